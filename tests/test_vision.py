"""Multimodal wrappers: the vision encoder and projector, counted exactly and reported apart.

* ``estimator.vision.VISION_DEFAULTS`` equals transformers' ``SiglipVisionConfig`` /
  ``Llama4VisionConfig`` defaults.
* Random Gemma-3 (SigLIP tower, with and without the pooling head, tied or untied output head)
  and Llama-4 configs: ``params.vision`` = the parameters of transformers' vision tower and
  projector, and ``params.total`` = the rest of ``…ForConditionalGeneration`` (meta device).
* The Llama-4 presets: vision = full multimodal model − text model.
* Served weights include the tower by default and leave it out with ``include_vision=false``;
  a text decode step does not read it.
"""

from __future__ import annotations

import inspect
import random

import pytest

import estimator
from estimator.hf import spec_from_hf_config
from estimator.params import count_params
from estimator.vision import VISION_DEFAULTS

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import hf_oracle  # noqa: E402
from family_configs import random_configs  # noqa: E402


@pytest.mark.parametrize("vision_type", sorted(VISION_DEFAULTS))
def test_vision_defaults_equal_transformers(vision_type):
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    params = inspect.signature(CONFIG_MAPPING[vision_type].__init__).parameters
    for key, ours in VISION_DEFAULTS[vision_type].items():
        assert params[key].default == ours, (vision_type, key)


def _siglip(rng: random.Random) -> dict:
    a = rng.choice([1, 2, 4])
    patch = rng.choice([2, 4, 7])
    return {"model_type": "siglip_vision_model", "hidden_size": a * rng.choice([4, 6, 8]),
            "intermediate_size": rng.randint(5, 40), "num_hidden_layers": rng.randint(1, 3),
            "num_attention_heads": a, "num_channels": rng.choice([1, 3]),
            "patch_size": patch, "image_size": patch * rng.choice([2, 4]),
            "vision_use_head": rng.random() < 0.5}


def _gemma3_configs(n: int) -> list[dict]:
    rng = random.Random("gemma3-wrapper")
    out = []
    for text in random_configs("gemma3_text", n, salt="wrapper"):
        cfg = {"model_type": "gemma3", "text_config": text, "mm_tokens_per_image": 4,
               "vision_config": _siglip(rng)}
        if rng.random() < 0.5:
            cfg["tie_word_embeddings"] = rng.random() < 0.5
        out.append(cfg)
    return out


def _build(cfg: dict):
    import warnings

    from transformers import Gemma3ForConditionalGeneration, Llama4ForConditionalGeneration

    cls = {"gemma3": Gemma3ForConditionalGeneration,
           "llama4": Llama4ForConditionalGeneration}[cfg["model_type"]]
    hc = hf_oracle.hf_config(cfg)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return cls(hc)


@pytest.mark.parametrize("cfg", _gemma3_configs(10), ids=lambda c: "gemma3")
def test_gemma3_vision_and_language_model_equal_transformers(cfg):
    model = _build(cfg)
    vision = (hf_oracle.numel(model.model.vision_tower)
              + hf_oracle.numel(model.model.multi_modal_projector))
    c = count_params(spec_from_hf_config(cfg))
    assert c.vision == vision
    assert c.total == hf_oracle.numel(model) - vision  # language model and its output head


def _llama4_configs(n: int) -> list[dict]:
    rng = random.Random("llama4-wrapper")
    out = []
    for _ in range(n):
        a = rng.choice([1, 2, 4])
        patch = rng.choice([2, 4])
        p_out = rng.randint(3, 20)
        vision = {"hidden_size": a * rng.choice([4, 6, 8]), "num_attention_heads": a,
                  "intermediate_size": rng.randint(5, 40), "num_hidden_layers": rng.randint(1, 3),
                  "num_channels": rng.choice([1, 3]), "patch_size": patch,
                  "image_size": patch * rng.choice([2, 4]), "vision_output_dim": p_out,
                  "projector_input_dim": rng.randint(3, 20), "projector_output_dim": p_out}
        text = {"model_type": "llama4_text", "hidden_size": 16, "num_hidden_layers": 2,
                "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
                "intermediate_size": 24, "intermediate_size_mlp": 40, "vocab_size": 97,
                "num_local_experts": 3, "num_experts_per_tok": 1}
        out.append({"model_type": "llama4", "text_config": text, "vision_config": vision})
    return out


@pytest.mark.parametrize("cfg", _llama4_configs(8), ids=lambda c: "llama4")
def test_llama4_vision_equals_transformers(cfg):
    model = _build(cfg)
    vision = (hf_oracle.numel(model.vision_model)
              + hf_oracle.numel(model.multi_modal_projector))
    c = count_params(spec_from_hf_config(cfg))
    assert c.vision == vision
    assert c.total == hf_oracle.numel(model) - vision


def test_absent_vision_config_takes_transformers_defaults():
    text = _gemma3_configs(1)[0]["text_config"]
    cfg = {"model_type": "gemma3", "text_config": text}
    model = _build(cfg)
    assert count_params(spec_from_hf_config(cfg)).vision == (
        hf_oracle.numel(model.model.vision_tower)
        + hf_oracle.numel(model.model.multi_modal_projector))


@pytest.mark.parametrize("slug", ["llama-4-scout", "llama-4-maverick"])
def test_llama4_presets_vision_is_full_minus_text(slug):
    cfg = dict(estimator.load_model(slug).hf_config)
    vision = (hf_oracle.numel(hf_oracle.build(cfg, text_only=False))
              - hf_oracle.numel(hf_oracle.build(cfg)))
    d = estimator.estimate(slug).to_dict()
    assert d["params"]["vision"] == vision


def test_include_vision_option():
    """Served weights hold the tower (bf16: 2 bytes per parameter) unless include_vision is
    false; decode reads and text FLOPs do not change."""
    on = estimator.estimate("llama-4-scout")
    off = estimator.estimate("llama-4-scout", include_vision=False)
    vision = on.params.vision
    assert vision > 0
    assert on.inference.weights - off.inference.weights == 2 * vision
    assert off.inference.weights_breakdown["vision"] == 0
    assert any("include_vision=false" in n for n in off.inference.notes)
    assert [p.bytes_read for p in on.serving.decode] == [p.bytes_read for p in off.serving.decode]
    assert on.flops.forward_per_token == off.flops.forward_per_token


def test_text_models_have_no_vision():
    d = estimator.estimate("mixtral-8x7b").to_dict()
    assert d["params"]["vision"] == 0
    assert d["memory"]["inference"]["weights_breakdown"]["vision"] == 0

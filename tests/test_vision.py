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
from estimator.hf import (
    FAMILIES,
    SUPPORTED_MODEL_TYPES,
    WRAPPER_TEXT_DEFAULTS,
    WRAPPERS,
    spec_from_hf_config,
)
from estimator.params import count_params
from estimator.vision import VISION_DEFAULTS

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import hf_oracle  # noqa: E402
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)
from family_configs import random_configs  # noqa: E402
from test_params_hf import random_configs as params_random_configs  # noqa: E402


@pytest.mark.parametrize("vision_type", sorted(VISION_DEFAULTS))
def test_vision_defaults_equal_transformers(vision_type):
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    params = inspect.signature(CONFIG_MAPPING[vision_type].__init__).parameters
    for key, ours in VISION_DEFAULTS[vision_type].items():
        assert params[key].default == ours, (vision_type, key)


@pytest.mark.parametrize("text_type", sorted(WRAPPER_TEXT_DEFAULTS))
def test_wrapper_text_defaults_equal_transformers(text_type):
    """Defaults of the Qwen-VL text configs, as a default-constructed config holds them
    (``None`` = derived: transformers' default is None too)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cls = CONFIG_MAPPING[text_type]
    params = inspect.signature(cls.__init__).parameters
    default = cls()
    for key, ours in WRAPPER_TEXT_DEFAULTS[text_type].items():
        if key in params:
            theirs = params[key].default
        elif key == "tie_word_embeddings" and not hasattr(default, key):
            theirs = False  # Qwen2.5-VL's text config has none: only a true value in a file counts
        else:
            theirs = getattr(default, key)
        assert theirs == ours, (text_type, key)


def test_wrappers_are_supported_types():
    assert set(WRAPPERS) | set(FAMILIES) == set(SUPPORTED_MODEL_TYPES)


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


#: transformers' class of each wrapper the tests build.
WRAPPER_CLASSES = {
    "gemma3": "Gemma3ForConditionalGeneration", "llama4": "Llama4ForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",
    "aria": "AriaForConditionalGeneration",
    "cohere_compass": "CohereCompassForConditionalGeneration"}


def _vision_numel(model) -> int:
    """transformers' vision modules of a wrapper: Qwen-VL-style ``visual`` (tower and mergers),
    else ``vision_tower`` + ``multi_modal_projector``."""
    m = model.model
    if hasattr(m, "visual"):
        return hf_oracle.numel(m.visual)
    return hf_oracle.numel(m.vision_tower) + hf_oracle.numel(m.multi_modal_projector)


def _build(cfg: dict):
    import warnings

    import transformers

    cls = getattr(transformers, WRAPPER_CLASSES[cfg["model_type"]])
    hc = hf_oracle.hf_config(cfg)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return cls(hc)


def _aria_configs(n: int) -> list[dict]:
    """Random aria_text models under Aria's wrapper: an Idefics3 tower, a query dict (absent:
    AriaConfig's 256 queries), the head tied or not by the wrapper."""
    rng = random.Random("aria-wrapper")
    out = []
    for text in random_configs("aria_text", n, salt="wrapper"):
        vis = {k: v for k, v in _siglip(rng).items() if k != "vision_use_head"}
        cfg = {"model_type": "aria", "text_config": text,
               "vision_config": {**vis, "model_type": "idefics3_vision"}}
        if rng.random() < 0.5:
            cfg["tie_word_embeddings"] = rng.random() < 0.5
        if rng.random() < 0.5:
            cfg["projector_patch_to_query_dict"] = {"16": rng.randint(1, 9),
                                                    "64": rng.randint(1, 9)}
        elif rng.random() < 0.5:
            del cfg["vision_config"]  # AriaConfig's Idefics3 defaults
        out.append(cfg)
    return out


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
    assert count_params(spec_from_hf_config(cfg)).vision == _vision_numel(model)


@pytest.mark.parametrize("slug", ["llama-4-scout", "llama-4-maverick"])
def test_llama4_presets_vision_is_full_minus_text(slug):
    cfg = dict(estimator.load_model(slug).hf_config)
    vision = (hf_oracle.numel(hf_oracle.build(cfg, text_only=False))
              - hf_oracle.numel(hf_oracle.build(cfg)))
    d = single_gpu.estimate(slug).to_dict()
    assert d["params"]["vision"] == vision


def test_include_vision_option():
    """Served weights hold the tower (bf16: 2 bytes per parameter) unless include_vision is
    false; decode reads and text FLOPs do not change."""
    on = single_gpu.estimate("llama-4-scout")
    off = single_gpu.estimate("llama-4-scout", include_vision=False)
    vision = on.params.vision
    assert vision > 0
    assert on.inference.weights - off.inference.weights == 2 * vision
    assert off.inference.weights_breakdown["vision"] == 0
    assert any("include_vision=false" in n for n in off.inference.notes)
    assert [p.bytes_read for p in on.serving.decode] == [p.bytes_read for p in off.serving.decode]
    assert on.flops.forward_per_token == off.flops.forward_per_token


def test_text_models_have_no_vision():
    d = single_gpu.estimate("mixtral-8x7b").to_dict()
    assert d["params"]["vision"] == 0
    assert d["memory"]["inference"]["weights_breakdown"]["vision"] == 0


def _qwen_vision(rng: random.Random, qwen3: bool) -> dict:
    a = rng.choice([1, 2, 4])
    d = {"hidden_size": a * rng.choice([4, 6, 8]), "num_heads": a,
         "intermediate_size": rng.randint(5, 40), "depth": rng.randint(1, 4),
         "in_channels": rng.choice([1, 3]), "patch_size": rng.choice([2, 4]),
         "temporal_patch_size": rng.choice([1, 2]), "spatial_merge_size": rng.choice([1, 2]),
         "out_hidden_size": rng.randint(3, 30)}
    if qwen3:
        d["num_position_embeddings"] = rng.choice([4, 9, 16])
        d["deepstack_visual_indexes"] = sorted(rng.sample(range(d["depth"]),
                                                          rng.randint(0, d["depth"])))
    return d


def _qwen_vl_configs(model_type: str, n: int) -> list[dict]:
    """Nested and flat (pre-v5: text fields at the top level) configs, the tie flag at the top,
    in text_config, both or neither."""
    rng = random.Random(f"{model_type}-wrapper")
    text_type = "qwen2" if model_type == "qwen2_5_vl" else "qwen3_moe"
    out = []
    for i, text in enumerate(params_random_configs(text_type, n)):
        text = {k: v for k, v in text.items() if k != "model_type"}
        text.pop("pad_token_id", None)
        if model_type == "qwen2_5_vl" and "head_dim" in text:  # it sizes heads as hidden / heads
            text["hidden_size"] = text["num_attention_heads"] * text.pop("head_dim")
        if model_type == "qwen3_vl_moe":  # its text config has no sliding window
            for k in ("use_sliding_window", "sliding_window", "max_window_layers"):
                text.pop(k, None)
        tie = text.pop("tie_word_embeddings", None)
        cfg = {"model_type": model_type,
               "vision_config": _qwen_vision(rng, model_type == "qwen3_vl_moe")}
        flat = model_type == "qwen2_5_vl" and i % 2
        if flat:
            cfg.update(text)
        else:
            cfg["text_config"] = text
        where = rng.choice(["top", "text", "none"])
        if tie is not None and where == "top":
            cfg["tie_word_embeddings"] = tie
        elif tie is not None and where == "text" and not flat:
            text["tie_word_embeddings"] = tie
        out.append(cfg)
    return out


def _cohere_compass_configs(n: int) -> list[dict]:
    """Random cohere_compass_text models under Cohere North's wrapper (a Qwen3-VL tower with
    DeepStack mergers, or AriaConfig-style defaults when absent), the head tied or not by the
    wrapper whatever the text config says."""
    rng = random.Random("cohere-compass-wrapper")
    out = []
    for text in random_configs("cohere_compass_text", n, salt="wrapper"):
        cfg = {"model_type": "cohere_compass", "text_config": text,
               "vision_config": _qwen_vision(rng, True)}
        if rng.random() < 0.2:
            del cfg["vision_config"]
        if rng.random() < 0.5:
            cfg["tie_word_embeddings"] = rng.random() < 0.5
        out.append(cfg)
    return out


@pytest.mark.parametrize("cfg", _gemma3_configs(10) + _aria_configs(8)
                         + _cohere_compass_configs(8), ids=lambda c: c["model_type"])
def test_wrapper_vision_and_language_model_equal_transformers(cfg):
    """Gemma-3 (SigLIP), Aria (Idefics3 + cross-attention projector), Cohere North (Qwen3-VL
    tower): ``params.vision`` = transformers' vision modules, ``params.total`` = the rest."""
    model = _build(cfg)
    vision = _vision_numel(model)
    c = count_params(spec_from_hf_config(cfg))
    assert c.vision == vision
    assert c.total == hf_oracle.numel(model) - vision  # language model and its output head


@pytest.mark.parametrize("cfg", _qwen_vl_configs("qwen2_5_vl", 12) + _qwen_vl_configs(
    "qwen3_vl_moe", 12), ids=lambda c: c["model_type"])
def test_qwen_vl_vision_and_language_model_equal_transformers(cfg):
    model = _build(cfg)
    vision = _vision_numel(model)
    c = count_params(spec_from_hf_config(cfg))
    assert c.vision == vision, cfg
    assert c.total == hf_oracle.numel(model) - vision, cfg
    experts = hf_oracle.numel(model, "mlp.experts.")
    if c.routed_experts:  # active: transformers' total less the unused share of its experts
        E, k = cfg["text_config"]["num_experts"], cfg["text_config"]["num_experts_per_tok"]
        assert c.routed_experts == experts
        assert c.active_with_embedding * E == (hf_oracle.numel(model) - vision) * E \
            - (E - k) * experts


def _build_real(cfg: dict):
    import warnings

    import transformers

    cls = getattr(transformers, WRAPPER_CLASSES[cfg["model_type"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        hc = hf_oracle.hf_config(cfg)
        model = cls._from_config(hc, attn_implementation="eager",
                                 experts_implementation="eager", dtype=torch.float32)
    return model.eval()


def _with_mrope(cfg: dict) -> dict:
    """A multimodal-RoPE split that fits the random head width (the defaults assume 128)."""
    text = cfg.get("text_config", cfg)
    d = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    half = d // 2
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0,
                               "mrope_section": [half - 2 * (half // 3), half // 3, half // 3]}
    return cfg


_TEXT_RUNS = (_gemma3_configs(3) + [_with_mrope(c) for c in _qwen_vl_configs("qwen2_5_vl", 3)
                                    + _qwen_vl_configs("qwen3_vl_moe", 3)]
              + _aria_configs(3)[1:] + _cohere_compass_configs(3))  # aria 0: default tower


@pytest.mark.parametrize("cfg", _TEXT_RUNS, ids=lambda c: c["model_type"])
def test_wrapper_text_forward_flops_and_kv_equal_transformers(cfg):
    """A text-only forward of the whole multimodal model: FLOPs = FlopCounterMode on the eager
    implementation, KV cache = bytes of transformers' cache tensors (the vision tower idle)."""
    from torch.utils.flop_counter import FlopCounterMode

    from estimator.flops import forward_flops
    from estimator.memory import kv_cache_bytes

    model = _build_real(cfg)
    spec = spec_from_hf_config(cfg)
    batch, seq = 2, 11
    ids = torch.randint(0, spec.vocab_size, (batch, seq),
                        generator=torch.Generator().manual_seed(1))
    model.requires_grad_(False)
    counter = FlopCounterMode(display=False)
    with counter:
        model(input_ids=ids, use_cache=False)
    assert forward_flops(spec, batch, seq, "full").total == counter.get_total_flops(), cfg
    with torch.no_grad():
        cache = model(input_ids=ids, use_cache=True).past_key_values
    measured = sum(t.numel() * t.element_size() for layer in cache.layers
                   for t in (layer.keys, layer.values) if t is not None)
    assert kv_cache_bytes(spec, batch, seq, "fp32") == measured, cfg

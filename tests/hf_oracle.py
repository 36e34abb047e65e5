"""The parameter oracle: Hugging Face ``transformers``' own model classes on the ``meta`` device.

A meta-device build allocates no memory and takes milliseconds, even for a 671B-parameter config
(REFERENCE.md §5). ``sum(p.numel() for p in model.parameters())`` of the model transformers builds
from a config dict is the exact count our estimator must reproduce. Tests import this module only
after ``pytest.importorskip("transformers")``.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping
from typing import Any

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

transformers.logging.set_verbosity_error()
logging.getLogger("transformers").setLevel(logging.ERROR)


def hf_config(d: Mapping[str, Any]):
    """transformers' configuration object for a config.json dict (``model_type`` inside)."""
    d = copy.deepcopy(dict(d))
    mt = d.pop("model_type")
    text = d if mt == "cohere_compass_text" else (
        d.get("text_config") if mt == "cohere_compass" else None)
    if isinstance(text, dict) and "rope_parameters" not in text:
        # transformers 5.24's CohereCompassRotaryEmbedding indexes rope_parameters by layer type
        # and has no default for it (the North checkpoints write one entry per type); no
        # parameter depends on it
        rope = {"rope_type": "default", "rope_theta": 10000.0}
        text["rope_parameters"] = {"full_attention": rope, "sliding_attention": dict(rope)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoConfig.for_model(mt, **d)


def eager_model(d: Mapping[str, Any], seed: int = 0) -> torch.nn.Module:
    """The causal-LM for ``d`` on the CPU with real (seeded random) weights and the eager
    attention and expert paths, in eval mode: what the cache, FLOP and activation tests run."""
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(hf_config(d), experts_implementation="eager",
                                            attn_implementation="eager").eval()


def build(d: Mapping[str, Any], text_only: bool = True) -> torch.nn.Module:
    """The causal-LM transformers builds for ``d`` on the meta device.

    ``llama4`` (the multimodal wrapper) gives its text model (``Llama4ForCausalLM`` of
    ``text_config``) unless ``text_only`` is False, in which case the full
    ``Llama4ForConditionalGeneration`` (vision encoder and projector included) is built.
    ``gemma3`` likewise: ``Gemma3ForCausalLM`` of ``text_config`` unless ``text_only`` is False.
    """
    cfg = hf_config(d)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        if d["model_type"] == "llama4":
            if text_only:
                return AutoModelForCausalLM.from_config(cfg.text_config)
            from transformers import Llama4ForConditionalGeneration

            return Llama4ForConditionalGeneration(cfg)
        if d["model_type"] == "gemma3" and text_only:  # Gemma3ForCausalLM on text_config
            return AutoModelForCausalLM.from_config(cfg.text_config)
        return AutoModelForCausalLM.from_config(cfg)


def numel(model: torch.nn.Module, contains: str | None = None) -> int:
    """Parameters of ``model`` (only those whose name contains ``contains``, if given), as the
    checkpoint holds them.

    ``model.parameters()`` yields a tied embedding/lm_head tensor once, as a checkpoint stores it.
    LongCat-Flash: transformers 5.24 sizes each layer's ``gate_up_proj`` for all ``E + Z``
    experts, zero-computation ones included (``modeling_longcat_flash.LongcatFlashExperts``:
    ``torch.empty(self.total_experts, 2 * intermediate, hidden)``), while ``down_proj`` has the
    ``E`` real experts, the forward reads ``gate_up_proj[i]`` only for ``i < E`` and the
    checkpoint holds ``E``; the ``Z`` unused rows (:func:`unused_zero_expert_params`) are left
    out (tests/test_longcat.py checks they are never read).
    """
    n = sum(p.numel() for n, p in model.named_parameters() if contains is None or contains in n)
    return n - unused_zero_expert_params(model, contains)


def unused_zero_expert_params(model: torch.nn.Module, contains: str | None = None) -> int:
    """LongCat-Flash's ``gate_up_proj`` rows of zero-computation experts (see :func:`numel`)."""
    out = 0
    for name, mod in model.named_modules():
        if type(mod).__name__ != "LongcatFlashExperts" or mod.gate_up_proj is None:
            continue
        if contains is None or contains in f"{name}.gate_up_proj":
            gu, dn = mod.gate_up_proj, mod.down_proj
            out += (gu.shape[0] - dn.shape[0]) * gu.shape[1] * gu.shape[2]
    return out


def buffer_numel(model: torch.nn.Module, contains: str) -> int:
    return sum(b.numel() for n, b in model.named_buffers() if contains in n)

"""Hugging Face ``config.json`` → :class:`~estimator.spec.ModelSpec`, one function per family.

Which fields are required and which default:

* **Required** — the sizes that define the model (hidden size, layers, heads, vocabulary, FFN
  and expert widths, expert counts and top-k). A config.json without one of these is truncated or
  not what it claims to be; we refuse it with an error naming the field instead of guessing.
* **Defaulted** — everything else (bias flags, tied embeddings, ``num_key_value_heads``,
  ``head_dim``, layer patterns ...) takes the default of transformers' own configuration class.
  Those defaults are written in :data:`DEFAULTS`; ``tests/test_hf_defaults.py`` reads the
  configuration classes of the installed transformers and checks every entry, so the table
  cannot drift silently. (We do not import transformers here: ``import estimator`` stays light.)

Aliases (``attribute_map`` in transformers) are resolved in one place, :data:`ALIASES`.
An unknown ``model_type`` is an error listing the supported ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import EstimatorError
from .spec import MLA, ModelSpec, MoA

#: transformers' defaults for the fields we do not require (checked by tests against the
#: configuration classes of transformers 5.24). ``None`` means "derived", as transformers does.
DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": dict(num_key_value_heads=None, head_dim=None, tie_word_embeddings=False,
                  attention_bias=False, mlp_bias=False),
    "mistral": dict(num_key_value_heads=8, head_dim=None, tie_word_embeddings=False,
                    sliding_window=4096),
    "qwen2": dict(num_key_value_heads=32, tie_word_embeddings=False, use_sliding_window=False,
                  sliding_window=None, max_window_layers=28),
    "qwen3": dict(num_key_value_heads=32, head_dim=128, tie_word_embeddings=False,
                  attention_bias=False, use_sliding_window=False, sliding_window=None,
                  max_window_layers=28),
    "gemma": dict(num_key_value_heads=16, head_dim=256, tie_word_embeddings=True,
                  attention_bias=False),
    "mixtral": dict(num_key_value_heads=8, head_dim=None, tie_word_embeddings=False,
                    sliding_window=None),
    "phimoe": dict(num_key_value_heads=8, tie_word_embeddings=False, sliding_window=None,
                   attention_bias=False, lm_head_bias=False),
    "granitemoe": dict(num_key_value_heads=None, tie_word_embeddings=False,
                       attention_bias=False),
    "olmoe": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False),
    "qwen2_moe": dict(num_key_value_heads=16, tie_word_embeddings=False,
                      use_sliding_window=False, sliding_window=None, max_window_layers=28,
                      decoder_sparse_step=1, mlp_only_layers=(), qkv_bias=True,
                      shared_expert_intermediate_size=None),
    "qwen3_moe": dict(num_key_value_heads=4, head_dim=None, tie_word_embeddings=False,
                      attention_bias=False, use_sliding_window=False, sliding_window=None,
                      decoder_sparse_step=1, mlp_only_layers=()),
    "deepseek_v2": dict(num_key_value_heads=None, tie_word_embeddings=False,
                        attention_bias=False, first_k_dense_replace=0, moe_layer_freq=1,
                        n_shared_experts=2, q_lora_rank=1536, kv_lora_rank=512,
                        qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128),
    "deepseek_v3": dict(num_key_value_heads=None, tie_word_embeddings=False,
                        attention_bias=False, first_k_dense_replace=3, n_shared_experts=1,
                        q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128,
                        qk_rope_head_dim=64, v_head_dim=128, num_nextn_predict_layers=1),
    "glm4_moe": dict(num_key_value_heads=8, head_dim=None, tie_word_embeddings=False,
                     attention_bias=False, first_k_dense_replace=1, n_shared_experts=1,
                     use_qk_norm=False, num_nextn_predict_layers=1),
    "gpt_oss": dict(num_key_value_heads=8, head_dim=64, tie_word_embeddings=False,
                    sliding_window=128, attention_bias=True, layer_types=None),
    "llama4_text": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                        attention_bias=False, interleave_moe_layer_step=1, moe_layers=None,
                        attention_chunk_size=8192, layer_types=None, no_rope_layers=None,
                        no_rope_layer_interval=4, use_qk_norm=True),
    "dbrx": dict(tie_word_embeddings=False, kv_n_heads=1),
    "jetmoe": dict(num_key_value_heads=16, kv_channels=128, tie_word_embeddings=True),
}

#: Foreign names for the same field (transformers' ``attribute_map`` plus config.json variants).
ALIASES: dict[str, tuple[str, ...]] = {
    "num_experts": ("num_local_experts", "n_routed_experts", "moe_num_experts", "num_experts"),
    "num_experts_per_tok": ("num_experts_per_tok", "experts_per_token", "moe_top_k"),
    "num_nextn_predict_layers": ("num_nextn_predict_layers", "num_mtp_layers"),
}


class _Reader:
    """Reads one family's config dict: required fields raise, optional ones take DEFAULTS."""

    def __init__(self, cfg: Mapping[str, Any], model_type: str, where: str = ""):
        self.cfg = cfg
        self.model_type = model_type
        self.defaults = DEFAULTS.get(model_type, {})
        self.where = where

    def _lookup(self, key: str) -> tuple[bool, Any]:
        for name in ALIASES.get(key, (key,)):
            if name in self.cfg:
                return True, self.cfg[name]
        return False, None

    def req(self, key: str) -> Any:
        found, value = self._lookup(key)
        if not found or value is None:
            raise EstimatorError(self.where + key, None if not found else value,
                                 f"required for model_type '{self.model_type}' but "
                                 f"{'missing' if not found else 'null'}")
        return value

    def opt(self, key: str) -> Any:
        found, value = self._lookup(key)
        if found:
            return value
        if key not in self.defaults:  # a programming error, not bad input
            raise KeyError(f"no default for {key!r} in DEFAULTS[{self.model_type!r}]")
        return self.defaults[key]

    def flag(self, key: str) -> bool:
        v = self.opt(key)
        if not isinstance(v, bool):
            raise EstimatorError(self.where + key, v, "must be true or false")
        return v


def _layer_list(name: str, value: Any, L: int) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise EstimatorError(name, value, "must be a list of layer indices")
    return tuple(value)


def _sliding_from_layer_types(r: _Reader, L: int, window: Any,
                              kinds=("sliding_attention",)) -> tuple[int | None, tuple[int, ...]]:
    lt = r.opt("layer_types") if "layer_types" in r.defaults or "layer_types" in r.cfg else None
    if lt is None:
        return None, ()
    if not isinstance(lt, (list, tuple)) or len(lt) != L:
        raise EstimatorError("layer_types", lt, f"must be a list of {L} layer kinds")
    layers = tuple(i for i, t in enumerate(lt) if t in kinds)
    return (window if layers else None), layers


def _common(r: _Reader, name: str) -> dict[str, Any]:
    h = r.req("hidden_size")
    a = r.req("num_attention_heads")
    g = r.opt("num_key_value_heads") if "num_key_value_heads" in r.defaults else None
    if "num_key_value_heads" in r.cfg and r.cfg["num_key_value_heads"] is not None:
        g = r.cfg["num_key_value_heads"]
    if g is None:
        g = a  # transformers: num_key_value_heads=None → num_attention_heads
    hd = r.cfg.get("head_dim", r.defaults.get("head_dim"))
    return dict(name=name, model_type=r.model_type, num_hidden_layers=r.req("num_hidden_layers"),
                hidden_size=h, vocab_size=r.req("vocab_size"), num_attention_heads=a,
                num_key_value_heads=g, head_dim=hd or 0,
                tie_word_embeddings=r.flag("tie_word_embeddings"),
                max_position_embeddings=r.cfg.get("max_position_embeddings"))


def _all_layers_sliding(r: _Reader, L: int) -> dict[str, Any]:
    w = r.opt("sliding_window")
    return dict(sliding_window=w, sliding_window_layers=tuple(range(L))) if w else {}


def _qwen_sliding(r: _Reader, L: int) -> dict[str, Any]:
    """Qwen2/3: ``layer_types`` if given, else sliding for layers ≥ max_window_layers."""
    w = r.opt("sliding_window")
    if "layer_types" in r.cfg and r.cfg["layer_types"] is not None:
        w2, layers = _sliding_from_layer_types(r, L, w)
        return dict(sliding_window=w2, sliding_window_layers=layers) if layers else {}
    if not (r.flag("use_sliding_window") and w):
        return {}
    mwl = r.opt("max_window_layers")
    return dict(sliding_window=w, sliding_window_layers=tuple(range(mwl, L)))


# ----------------------------------------------------------------------------------------------
# families
# ----------------------------------------------------------------------------------------------

def _llama(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab, ffn_bias=r.flag("mlp_bias"))


def _mistral(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"),
                     **_all_layers_sliding(r, c["num_hidden_layers"]))


def _qwen2(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"), attention_bias=True,
                     **_qwen_sliding(r, c["num_hidden_layers"]))


def _qwen3(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab, qk_norm="head",
                     **_qwen_sliding(r, c["num_hidden_layers"]))


def _gemma(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab)


def _moe_fields(r: _Reader, L: int, layers: tuple[int, ...], width_key: str) -> dict[str, Any]:
    return dict(num_experts=r.req("num_experts"), num_experts_per_tok=r.req("num_experts_per_tok"),
                moe_intermediate_size=r.req(width_key), moe_layers=layers)


def _mixtral(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    return ModelSpec(**c, **_moe_fields(r, L, tuple(range(L)), "intermediate_size"),
                     **_all_layers_sliding(r, L))


def _phimoe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, L, tuple(range(L)), "intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab, norm_type="layernorm",
                     norm_bias=True, lm_head_bias=r.flag("lm_head_bias"),
                     **_all_layers_sliding(r, L))


def _granitemoe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, L, tuple(range(L)), "intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab)


def _olmoe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, L, tuple(range(L)), "intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab, qk_norm="full")


def _qwen_moe_layers(r: _Reader, L: int) -> tuple[int, ...]:
    """Qwen2/3-MoE: layer i is sparse iff i ∉ mlp_only_layers and (i+1) % decoder_sparse_step == 0."""
    step = r.opt("decoder_sparse_step")
    only = set(_layer_list("mlp_only_layers", r.opt("mlp_only_layers"), L))
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        raise EstimatorError("decoder_sparse_step", step, "must be an integer >= 1")
    return tuple(i for i in range(L) if i not in only and (i + 1) % step == 0)


def _qwen2_moe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    layers = _qwen_moe_layers(r, L)
    f_sh = r.req("shared_expert_intermediate_size")
    dense_f = r.req("intermediate_size") if len(layers) < L else r.cfg.get("intermediate_size", 0)
    return ModelSpec(**c, **_moe_fields(r, L, layers, "moe_intermediate_size"),
                     intermediate_size=dense_f or 0, attention_bias=r.flag("qkv_bias"),
                     num_shared_experts=1 if f_sh else 0, shared_expert_intermediate_size=f_sh,
                     shared_expert_gate=bool(f_sh), **_qwen_sliding(r, L))


def _qwen3_moe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    layers = _qwen_moe_layers(r, L)
    dense_f = r.req("intermediate_size") if len(layers) < L else r.cfg.get("intermediate_size", 0)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, L, layers, "moe_intermediate_size"),
                     intermediate_size=dense_f or 0, attention_bias=ab, attention_out_bias=ab,
                     qk_norm="head", **_qwen_sliding(r, L))


def _deepseek(r: _Reader, name: str, v3: bool) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    first = r.opt("first_k_dense_replace")
    freq = 1 if v3 else r.opt("moe_layer_freq")
    E = r.req("num_experts")
    layers = tuple(i for i in range(L) if i >= first and i % freq == 0)
    n_sh = r.opt("n_shared_experts") or 0
    f_e = r.req("moe_intermediate_size")
    mla = MLA(q_lora_rank=r.opt("q_lora_rank"), kv_lora_rank=r.opt("kv_lora_rank"),
              qk_nope_head_dim=r.opt("qk_nope_head_dim"),
              qk_rope_head_dim=r.opt("qk_rope_head_dim"), v_head_dim=r.opt("v_head_dim"))
    ab = r.flag("attention_bias")
    c["head_dim"] = mla.v_head_dim  # unused by MLA counts; keeps validation meaningful
    return ModelSpec(**c, num_experts=E, num_experts_per_tok=r.req("num_experts_per_tok"),
                     moe_intermediate_size=f_e, moe_layers=layers,
                     intermediate_size=r.req("intermediate_size") if len(layers) < L else 0,
                     num_shared_experts=n_sh, shared_expert_intermediate_size=n_sh * f_e,
                     mla=mla, attention_bias=ab, attention_out_bias=ab,
                     router_score_correction_bias=v3,
                     num_mtp_layers=r.opt("num_nextn_predict_layers") if v3 else 0)


def _glm4_moe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    first = r.opt("first_k_dense_replace")
    layers = tuple(range(first, L))
    n_sh = r.opt("n_shared_experts") or 0
    f_e = r.req("moe_intermediate_size")
    return ModelSpec(**c, **_moe_fields(r, L, layers, "moe_intermediate_size"),
                     intermediate_size=r.req("intermediate_size") if first else 0,
                     num_shared_experts=n_sh, shared_expert_intermediate_size=n_sh * f_e,
                     attention_bias=r.flag("attention_bias"),
                     qk_norm="head" if r.flag("use_qk_norm") else "none",
                     router_score_correction_bias=True,
                     num_mtp_layers=r.opt("num_nextn_predict_layers"))


def _gpt_oss(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    w = r.opt("sliding_window")
    lt = r.cfg.get("layer_types")
    if lt is None:  # transformers: alternate sliding / full, starting with sliding
        layers = tuple(i for i in range(L) if i % 2 == 0)
    else:
        w, layers = _sliding_from_layer_types(r, L, w)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, L, tuple(range(L)), "intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab, attention_sinks=True,
                     router_bias=True, expert_bias=True,
                     sliding_window=w if layers else None, sliding_window_layers=layers)


def _llama4_text(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    step = r.opt("interleave_moe_layer_step")
    layers = r.opt("moe_layers")
    if layers is None:
        layers = list(range(step - 1, L, step))
    layers = _layer_list("moe_layers", layers, L)
    f = r.req("intermediate_size")
    # Chunked attention (layers with RoPE) never looks further back than attention_chunk_size,
    # so its cache is capped like a sliding window (transformers' ChunkedSlidingLayer).
    chunk = r.opt("attention_chunk_size")
    lt = r.cfg.get("layer_types")
    if lt is not None:
        _, chunked = _sliding_from_layer_types(r, L, chunk, kinds=("chunked_attention",))
    else:
        nrl = r.opt("no_rope_layers")
        interval = r.opt("no_rope_layer_interval")
        if nrl is None:
            nrl = [int((i + 1) % interval != 0) for i in range(L)]
        chunked = tuple(i for i in range(L) if nrl[i])
    ab = r.flag("attention_bias")
    return ModelSpec(**c, num_experts=r.req("num_experts"),
                     num_experts_per_tok=r.req("num_experts_per_tok"), moe_intermediate_size=f,
                     moe_layers=layers,
                     intermediate_size=r.req("intermediate_size_mlp") if len(layers) < L else 0,
                     num_shared_experts=1, shared_expert_intermediate_size=f,
                     attention_bias=ab, attention_out_bias=ab,
                     sliding_window=chunk if (chunk and chunked) else None,
                     sliding_window_layers=chunked if chunk else (),
                     notes=("qk norm is a parameter-free L2 norm",
                            "chunked-attention layers are listed as sliding_window_layers"))


def _dbrx(r: _Reader, name: str) -> ModelSpec:
    attn = r.cfg.get("attn_config") or {}
    ffn = r.cfg.get("ffn_config")
    if not isinstance(attn, Mapping):
        raise EstimatorError("attn_config", attn, "must be a mapping")
    if not isinstance(ffn, Mapping):
        raise EstimatorError("ffn_config", ffn, "required for model_type 'dbrx' (a mapping)")
    L = r.req("n_layers")
    fr = _Reader(ffn, "dbrx", where="ffn_config.")
    ar = _Reader(attn, "dbrx", where="attn_config.")
    return ModelSpec(name=name, model_type="dbrx", num_hidden_layers=L,
                     hidden_size=r.req("d_model"), vocab_size=r.req("vocab_size"),
                     num_attention_heads=r.req("n_heads"), num_key_value_heads=ar.opt("kv_n_heads"),
                     tie_word_embeddings=r.flag("tie_word_embeddings"), norm_type="layernorm",
                     fused_qkv=True, num_experts=fr.req("num_experts"),
                     num_experts_per_tok=fr.req("num_experts_per_tok"),
                     moe_intermediate_size=fr.req("ffn_hidden_size"), moe_layers=tuple(range(L)),
                     max_position_embeddings=r.cfg.get("max_seq_len"))


def _jetmoe(r: _Reader, name: str) -> ModelSpec:
    L = r.req("num_hidden_layers")
    E, k = r.req("num_experts"), r.req("num_experts_per_tok")
    g = r.opt("num_key_value_heads")
    return ModelSpec(name=name, model_type="jetmoe", num_hidden_layers=L,
                     hidden_size=r.req("hidden_size"), vocab_size=r.req("vocab_size"),
                     num_attention_heads=k * g, num_key_value_heads=g,
                     head_dim=r.opt("kv_channels"),
                     tie_word_embeddings=r.flag("tie_word_embeddings"),
                     moa=MoA(num_experts=E, top_k=k), num_experts=E, num_experts_per_tok=k,
                     moe_intermediate_size=r.req("intermediate_size"),
                     moe_layers=tuple(range(L)), moe_output_bias=True,
                     max_position_embeddings=r.cfg.get("max_position_embeddings"),
                     notes=("attention is a mixture of top-k attention experts (MoA)",))


FAMILIES: dict[str, Callable[[_Reader, str], ModelSpec]] = {
    "llama": _llama, "mistral": _mistral, "qwen2": _qwen2, "qwen3": _qwen3, "gemma": _gemma,
    "mixtral": _mixtral, "phimoe": _phimoe, "granitemoe": _granitemoe, "olmoe": _olmoe,
    "qwen2_moe": _qwen2_moe, "qwen3_moe": _qwen3_moe,
    "deepseek_v2": lambda r, n: _deepseek(r, n, v3=False),
    "deepseek_v3": lambda r, n: _deepseek(r, n, v3=True),
    "glm4_moe": _glm4_moe, "gpt_oss": _gpt_oss, "llama4_text": _llama4_text,
    "dbrx": _dbrx, "jetmoe": _jetmoe,
}
SUPPORTED_MODEL_TYPES = tuple(sorted([*FAMILIES, "llama4"]))


def spec_from_hf_config(cfg: Mapping[str, Any], name: str = "custom") -> ModelSpec:
    """Build a spec from a Hugging Face ``config.json`` dict (see module docstring)."""
    if not isinstance(cfg, Mapping):
        raise EstimatorError("config", type(cfg).__name__, "must be a mapping (a JSON object)")
    mt = cfg.get("model_type")
    if mt is None:
        raise EstimatorError("model_type", None, "missing; supported: "
                             + ", ".join(SUPPORTED_MODEL_TYPES))
    if mt == "llama4":  # multimodal wrapper: the language model lives under text_config
        tc = cfg.get("text_config")
        if not isinstance(tc, Mapping):
            raise EstimatorError("text_config", tc, "required for model_type 'llama4'")
        spec = _llama4_text(_Reader(tc, "llama4_text", where="text_config."), name)
        return spec.replace(model_type="llama4",
                            notes=spec.notes + ("text model only; the vision encoder and "
                                                "projector are not counted",))
    if mt not in FAMILIES:
        raise EstimatorError("model_type", mt, "unsupported; supported: "
                             + ", ".join(SUPPORTED_MODEL_TYPES))
    return FAMILIES[mt](_Reader(cfg, mt), name)

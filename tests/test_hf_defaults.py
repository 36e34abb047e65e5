"""``estimator.hf.DEFAULTS`` is transformers' own defaults, and absent fields default the same way.

1. Every entry of ``DEFAULTS[family]`` equals the default of that field in transformers'
   configuration class (read from its ``__init__`` signature, so a changed default in a new
   transformers release fails here instead of silently changing our counts).
2. ``None`` entries mean "derived": transformers derives the value from other fields
   (``num_key_value_heads = num_attention_heads``, ``head_dim = hidden / heads``, Llama-4's
   ``moe_layers`` from ``interleave_moe_layer_step`` ...). For each, the value transformers derives
   for a config without the field equals what our importer derives.
3. A config holding only the fields our importer requires builds, in transformers, a model with
   exactly our parameter count — so every absent field defaults the same way in both.
"""

from __future__ import annotations

import inspect

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import hf_oracle  # noqa: E402
from hf_minimal import REQUIRED, minimal  # noqa: E402
from transformers.models.auto.configuration_auto import CONFIG_MAPPING  # noqa: E402

from estimator.errors import EstimatorError  # noqa: E402
from estimator.hf import (  # noqa: E402
    DEFAULTS,
    DEFAULTS_NOT_IN_TRANSFORMERS,
    FAMILIES,
    spec_from_hf_config,
)
from estimator.params import count_params  # noqa: E402

_EMPTY = inspect.Parameter.empty


def config_class(family: str, key: str):
    if family == "dbrx" and key == "kv_n_heads":
        from transformers.models.dbrx.configuration_dbrx import DbrxAttentionConfig

        return DbrxAttentionConfig
    return CONFIG_MAPPING[family]


def transformers_default(family: str, key: str):
    """(found, default) of ``key`` in the family's configuration class (attribute_map honoured)."""
    cls = config_class(family, key)
    amap = getattr(cls, "attribute_map", {})
    params = inspect.signature(cls.__init__).parameters
    names = [key, amap.get(key)] + [alias for alias, real in amap.items() if real == key]
    param = next((params[n] for n in names if n in params), None)
    if param is None or param.default is _EMPTY:
        return False, None
    return True, param.default


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


DEFAULT_ENTRIES = [(f, k, v) for f, d in DEFAULTS.items() for k, v in d.items()]


def test_every_family_has_defaults():
    assert set(DEFAULTS) == set(FAMILIES)


@pytest.mark.parametrize("family,key,ours", DEFAULT_ENTRIES,
                         ids=[f"{f}.{k}" for f, k, _ in DEFAULT_ENTRIES])
def test_default_equals_transformers(family, key, ours):
    found, theirs = transformers_default(family, key)
    if (family, key) in DEFAULTS_NOT_IN_TRANSFORMERS:
        assert not found, f"{family}.{key} is in transformers now: drop the exception"
        return
    if ours is None:
        # derived: transformers has no default value for it either (None, or no such field and
        # the modeling code falls back to a derived value); test_derived_* checks the derivation
        assert theirs is None, f"{family}.{key}: transformers default {theirs!r}"
    else:
        assert found, f"{family}.{key} is not a field of {config_class(family, key).__name__}"
        assert _norm(ours) == _norm(theirs), f"{family}.{key}"


# ----------------------------------------------------------------------------------------------
# minimal configs: only the fields our importer requires
# ----------------------------------------------------------------------------------------------

# transformers 5.24's DBRX rotary embedding reads attn_config.rope_theta and has no default
# for it; it is not a field we read, so adding it changes nothing on our side.
_HF_ONLY = {"dbrx": {"attn_config": {"rope_theta": 10000.0}},
            # FlexOlmo's default pad_token_id (100277) must index the (tiny) vocabulary
            "flex_olmo": {"pad_token_id": 0}, "seed_oss": {"pad_token_id": 0},
            "olmo2": {"pad_token_id": 0}, "olmo3": {"pad_token_id": 0},
            "glm4": {"pad_token_id": 0}, "phi3": {"pad_token_id": 0},
            "smollm3": {"pad_token_id": 0}, "glm": {"pad_token_id": 0},
            "ministral3": {"pad_token_id": 0}, "olmo": {"pad_token_id": 0}}


def test_required_table_covers_every_family():
    assert set(REQUIRED) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(REQUIRED))
def test_minimal_config_counts_like_transformers(family):
    cfg = minimal(family)
    model = hf_oracle.build({**cfg, **_HF_ONLY.get(family, {})})
    assert count_params(spec_from_hf_config(cfg)).total == hf_oracle.numel(model)


def test_minimal_llama4_wrapper_counts_like_transformers():
    cfg = {"model_type": "llama4", "text_config": REQUIRED["llama4_text"]}
    assert count_params(spec_from_hf_config(cfg)).total == hf_oracle.numel(hf_oracle.build(cfg))


# ----------------------------------------------------------------------------------------------
# derived (None) defaults: transformers derives what we derive
# ----------------------------------------------------------------------------------------------

def _attn_head_dim(model) -> int:
    return model.model.layers[0].self_attn.head_dim


def _sliding(spec) -> list[int]:
    return list(spec.sliding_window_layers)


def _hybrid_kinds(mixer: str, names: dict[str, str] | None = None):
    """The per-layer mixer kinds of :attr:`ModelSpec.layer_kinds` from transformers'
    ``layer_types`` (legacy names remapped, ``names`` for the family's own)."""
    legacy = {"mamba": "linear_attention", "attention": "full_attention"}
    names = {"linear_attention": mixer, "conv": mixer, "full_attention": "full_attention",
             "mlp": "none", "moe": "none", **(names or {})}
    return lambda c: [names[legacy.get(t, t)] for t in c.layer_types]


_HYBRID_LAYER_TYPES = {
    "qwen3_next": _hybrid_kinds("gated_deltanet"), "jamba": _hybrid_kinds("mamba"),
    "bamba": lambda c: ["mamba2" if t == "linear_attention" else "full_attention"
                        for t in c.layers_block_type],
    "granitemoehybrid": _hybrid_kinds("mamba2"), "nemotron_h": _hybrid_kinds("mamba2"),
    "lfm2": _hybrid_kinds("short_conv"), "lfm2_moe": _hybrid_kinds("short_conv"),
    "minimax": _hybrid_kinds("lightning"), "kimi_linear": _hybrid_kinds("kimi_delta"),
    "bailing_hybrid": _hybrid_kinds("kimi_delta"),
    "lfm3": _hybrid_kinds("short_conv", {"sliding_attention": "sliding_attention"}),
    "falcon_h1": lambda c: ["mamba2+attention"] * c.num_hidden_layers,
    "recurrent_gemma": _hybrid_kinds("rglru", {"sliding_attention": "sliding_attention"}),
}

DERIVED = [(f, k) for f, d in DEFAULTS.items() for k, v in d.items() if v is None]


@pytest.mark.parametrize("family,key", DERIVED, ids=[f"{f}.{k}" for f, k in DERIVED])
def test_derived_default_matches_transformers(family, key):  # noqa: C901
    cfg = minimal(family)
    if family in ("qwen2_moe", "qwen3_moe") and key == "mlp_only_layers":
        cfg["intermediate_size"] = 96
    cfg.pop(key, None)
    hf_cfg = hf_oracle.hf_config(cfg)
    spec = spec_from_hf_config(cfg)
    if family in _HYBRID_LAYER_TYPES:  # the derived schedule is transformers' layer_types
        kinds = _HYBRID_LAYER_TYPES[family](hf_cfg)
        assert [m for m, _ in spec.layer_kinds] == kinds, (family, key)
    if key == "num_key_value_heads":
        assert spec.num_key_value_heads == hf_cfg.num_key_value_heads == cfg["num_attention_heads"]
    elif key == "output_vocab_size":  # unpruned: the head has vocab_size rows
        assert spec.head_vocab_size == hf_oracle.build(cfg).lm_head.out_features \
            == cfg["vocab_size"]
    elif key == "head_dim":
        assert spec.head_dim == _attn_head_dim(hf_oracle.build(cfg))
        assert spec.head_dim == cfg["hidden_size"] // cfg["num_attention_heads"]
    elif key == "moe_layers":  # Llama-4: every interleave_moe_layer_step-th layer
        for step in (1, 2, 3):
            c = {**cfg, "interleave_moe_layer_step": step, "intermediate_size_mlp": 80}
            assert list(spec_from_hf_config(c).moe_layers) == hf_oracle.hf_config(c).moe_layers
    elif family == "deepseek_v4" and key in ("layer_types", "mlp_layer_types", "compress_rates"):
        # DeepseekV4Config.__post_init__ derives the attention and MoE schedules and the rates
        c = spec.compressed_attention
        kinds = {"compressed_sparse_attention": c.csa_layers,
                 "heavily_compressed_attention": c.hca_layers}
        for kind, layers in kinds.items():
            assert list(layers) == [i for i, t in enumerate(hf_cfg.layer_types) if t == kind]
        assert (c.csa_rate, c.hca_rate) == tuple(hf_cfg.compress_rates[k] for k in kinds)
        assert list(c.hash_moe_layers) == [i for i, t in enumerate(hf_cfg.mlp_layer_types)
                                           if t == "hash_moe"]
    elif family == "zamba2":  # Zamba2Config.__post_init__: the 54-layer schedule, a 4h MLP
        assert list(spec.shared_block.uses) == hf_cfg.hybrid_layer_ids
        assert spec.intermediate_size == hf_cfg.intermediate_size == 4 * cfg["hidden_size"]
        assert spec.num_hidden_layers == len(hf_cfg.layers_block_type)
    elif family == "zamba":  # ZambaConfig.__post_init__: schedule, 2h-wide block, head dim
        for per, off in ((6, 4), (2, 0), (1, 0)):
            c = {**cfg, "attn_layer_period": per, "attn_layer_offset": off,
                 "num_hidden_layers": 9}
            hc = hf_oracle.hf_config(c)
            assert list(spec_from_hf_config(c).shared_block.uses) == [
                i for i, t in enumerate(hc.layers_block_type) if t == "hybrid"]
        assert hf_cfg.attention_hidden_size == 2 * cfg["hidden_size"]
        assert spec.head_dim == hf_cfg.attention_head_dim
    elif family == "xlstm" and key in ("embedding_dim", "num_blocks"):  # hidden_size, layers
        assert (hf_cfg.embedding_dim, hf_cfg.num_blocks) == (cfg["hidden_size"],
                                                             cfg["num_hidden_layers"])
        assert spec.num_hidden_layers == len(hf_oracle.build(cfg).backbone.blocks)
    elif family == "rwkv" and key == "attention_hidden_size":  # None: hidden_size
        assert spec.mixer.inner == hf_cfg.attention_hidden_size == cfg["hidden_size"]
        assert spec.mixer.inner == hf_oracle.build(cfg).rwkv.blocks[0].attention.key.out_features
    elif family == "rwkv" and key == "intermediate_size":  # None: 4 x hidden_size
        assert spec.mixer.ffn_dim == hf_cfg.intermediate_size == 4 * cfg["hidden_size"]
    elif family == "recurrent_gemma" and key == "lru_width":  # None: hidden_size
        assert spec.mixer.inner == hf_cfg.lru_width == cfg["hidden_size"]
    elif family == "minimax" and key == "head_dim":
        assert spec.head_dim == _attn_head_dim(hf_oracle.build(cfg))
    elif family in _HYBRID_LAYER_TYPES:  # checked above: the schedule, as transformers derives it
        pass
    elif family == "flint" and key == "mlp_only_layers":  # [0, 1] dense
        for L in (1, 2, 5):
            c = {**cfg, "num_hidden_layers": L}
            hc = hf_oracle.hf_config(c)
            assert list(spec_from_hf_config(c).moe_layers) == [
                i for i in range(L) if i not in hc.mlp_only_layers]
    elif key == "mlp_only_layers":
        assert hf_cfg.mlp_only_layers == []
        assert spec.num_moe_layers == spec.num_hidden_layers
    elif key == "layer_types" and family == "gpt_oss":  # alternating, sliding first
        expect = [i for i, t in enumerate(hf_cfg.layer_types) if t == "sliding_attention"]
        assert _sliding(spec) == expect == [0, 2]
    elif key == "layer_types" and family == "llama4_text":  # chunked where RoPE is used
        expect = [i for i, t in enumerate(hf_cfg.layer_types) if t == "chunked_attention"]
        assert _sliding(spec) == expect == [0, 1, 2]
    elif key == "layer_types" and family in ("dots1", "exaone_moe", "ministral", "olmo3",
                                             "exaone4", "gemma2", "gemma3_text", "cohere2",
                                             "cohere2_moe", "vaultgemma", "granite_swa",
                                             "granitemoe_swa", "afmoe", "cwm", "mellum", "flint",
                                             "kolibri1", "cohere_compass_text"):
        extras = [{"sliding_window": 16, "max_window_layers": 1},
                  {"sliding_window": 16, "sliding_window_pattern": 3},
                  {"sliding_window": 16, "sliding_window_pattern": 1}]
        if family == "cohere2_moe":  # dense prefix layers with their own pattern
            extras.append({"sliding_window": 16, "first_k_dense_replace": 2,
                           "prefix_dense_sliding_window_pattern": 2, "sliding_window_pattern": 3,
                           "prefix_dense_intermediate_size": 80})
        for extra in extras:
            c = {**cfg, **extra, "num_hidden_layers": 5}
            hc = hf_oracle.hf_config(c)
            expect = [i for i, t in enumerate(hc.layer_types) if t == "sliding_attention"]
            assert _sliding(spec_from_hf_config(c)) == expect
    elif key == "mlp_layer_types":  # GLM-4.7-Flash: first layer dense; EXAONE-MoE: first k
        for first in (0, 1, 3):
            c = {**cfg, "first_k_dense_replace": first, "num_hidden_layers": 5,
                 "prefix_dense_intermediate_size": 80}
            hc = hf_oracle.hf_config(c)
            expect = [i for i, t in enumerate(hc.mlp_layer_types) if t == "sparse"]
            assert list(spec_from_hf_config(c).moe_layers) == expect
    elif key == "layer_types":  # qwen: derived from use_sliding_window / max_window_layers
        for mwl in (0, 1, 3):
            c = {**cfg, "use_sliding_window": True, "sliding_window": 16,
                 "max_window_layers": mwl}
            hc = hf_oracle.hf_config(c)
            expect = [i for i, t in enumerate(hc.layer_types) if t == "sliding_attention"]
            assert _sliding(spec_from_hf_config(c)) == expect
    elif family == "smollm3" and key in ("no_rope_layers", "layer_types"):
        # sliding on the NoPE layers, every no_rope_layer_interval-th one, when enabled
        for interval in (1, 2, 4):
            c = {**cfg, "no_rope_layer_interval": interval, "use_sliding_window": True,
                 "sliding_window": 16, "num_hidden_layers": 5}
            hc = hf_oracle.hf_config(c)
            expect = [i for i, t in enumerate(hc.layer_types) if t == "sliding_attention"]
            assert _sliding(spec_from_hf_config(c)) == expect
    elif key == "no_rope_layers":  # Llama-4: every no_rope_layer_interval-th layer is NoPE
        for interval in (1, 2, 4):
            c = {**cfg, "no_rope_layer_interval": interval}
            hc = hf_oracle.hf_config(c)
            assert _sliding(spec_from_hf_config(c)) == [i for i, f in
                                                        enumerate(hc.no_rope_layers) if f]
    elif family == "falcon":  # derived in FalconConfig.__post_init__ / FalconDecoderLayer
        new = {**cfg, "new_decoder_architecture": True}
        layer = hf_oracle.build(new).transformer.h[0]
        if key == "num_kv_heads":  # every head has its own K/V
            assert spec_from_hf_config(new).num_key_value_heads == cfg["num_attention_heads"] \
                == hf_oracle.hf_config(new).num_kv_heads
        elif key == "num_ln_in_parallel_attn":  # 2 with the new architecture, else 1
            assert spec_from_hf_config(new).norms_per_layer == 2 and hasattr(layer, "ln_mlp")
            assert spec.norms_per_layer == 1
            assert not hasattr(hf_oracle.build(cfg).transformer.h[0], "ln_mlp")
        elif key == "ffn_hidden_size":
            assert spec.intermediate_size == 4 * cfg["hidden_size"] \
                == layer.mlp.dense_h_to_4h.weight.shape[0]
        else:
            raise AssertionError(f"no derivation check for falcon.{key}")
    elif key in ("n_inner", "intermediate_size"):  # GPT-2/BigCode/J, CodeGen, GPT-Neo: 4h
        assert spec.intermediate_size == 4 * spec.hidden_size
        mlp = hf_oracle.build(cfg).transformer.h[0].mlp
        c_fc = getattr(mlp, "c_fc", None) or mlp.fc_in  # Conv1D (GPT-2) or Linear
        assert c_fc.weight.numel() == 4 * spec.hidden_size ** 2
    elif family == "opt" and key == "word_embed_proj_dim":  # = hidden_size: no projections
        assert hf_cfg.word_embed_proj_dim == cfg["hidden_size"]
        assert hf_oracle.build(cfg).model.decoder.project_in is None
    elif family == "sarvam_mla" and key == "q_lora_rank":  # no query LoRA: one q_proj
        attn = hf_oracle.build(cfg).model.layers[0].self_attn
        assert spec.mla.q_lora_rank is None and hasattr(attn, "q_proj")
    elif family == "minicpm3" and key == "v_head_dim":  # hidden_size // heads
        assert spec.mla.v_head_dim == hf_cfg.v_head_dim == cfg["hidden_size"] // cfg[
            "num_attention_heads"]
    elif family == "glm_moe_dsa" and key in ("indexer_types", "index_topk_pattern"):
        # GlmMoeDsaConfig.__post_init__ derives indexer_types (pattern, else freq/offset): every
        # layer "full" by default; ours loads exactly the configs whose derived list is all
        # "full" and refuses the IndexShare ones ("shared" layers), naming the field
        assert hf_cfg.indexer_types == ["full"] * cfg["num_hidden_layers"]
        assert spec.mla.index_n_heads and spec.num_attention_layers == cfg["num_hidden_layers"]
        for extra in ({"index_topk_freq": 2}, {"index_topk_freq": 4, "index_skip_topk_offset": 0},
                      {"index_topk_freq": 3, "index_skip_topk_offset": 9},
                      {"index_topk_pattern": "FFFF"}, {"index_topk_pattern": "FSFS"},
                      {"index_topk_pattern": ["full", "full", "shared", "full"]}):
            c = {**cfg, **extra}
            shared = "shared" in hf_oracle.hf_config(c).indexer_types
            try:
                spec_from_hf_config(c)
                assert not shared, extra
            except EstimatorError as e:
                assert shared and e.field in extra, (extra, e.field)
    elif family == "hy_v4" and key == "indexer_types":
        # HYV4Config.__post_init__: layer 0 and every 4th from layer 1 run an indexer ("full");
        # the "shared" ones build none (HYV4Attention.indexer is None)
        model = hf_oracle.build(cfg)
        own = [i for i, layer in enumerate(model.model.layers)
               if layer.self_attn.indexer is not None]
        assert own == [i for i, t in enumerate(hf_cfg.indexer_types) if t == "full"]
        assert list(spec.mla.indexer_layers or range(cfg["num_hidden_layers"])) == own
    elif key == "sliding_window":  # a genuine "no window" default
        assert getattr(hf_cfg, "sliding_window", None) is None
        assert spec.sliding_window is None and not spec.sliding_window_layers
    else:
        raise AssertionError(f"no derivation check for {family}.{key}: add one")

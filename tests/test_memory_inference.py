"""Inference memory (estimator/memory.py) against independent references.

* KV cache: byte-for-byte equal to the cache tensors transformers 5.x holds after a
  ``use_cache=True`` forward of the same batch × seq_len, on small random configs of every family
  with a distinct cache shape, below and above the sliding window; MLA's decompressed
  ('transformers') layout equal to the K/V tensors transformers' DeepSeek code expands.
* Weights: the gpt-oss model card's checkpoint sizes (MXFP4 experts), vLLM's logged weight memory
  for Llama-3-8B at tp=1 and tp=2, and the split into quantized matrices vs 16-bit tensors equal
  to the parameters transformers' modules hold (meta device).
* Pipeline split: vLLM's own test goldens for ``get_pp_indices``.
* Invariants: memory monotone in batch and seq_len, max_batch / max_seq_len on the fit boundary,
  tensor-parallel KV replication, speed.
"""

from __future__ import annotations

import random
import re
import time

import pytest
from single_gpu import make_options  # noqa: E402  (tp = pp = ep = 1 unless set)

from estimator import list_presets, load_model
from estimator.errors import EstimatorError
from estimator.hardware import get_gpu
from estimator.hf import spec_from_hf_config
from estimator.memory import (
    GIB,
    compute,
    kv_cache_bytes,
    layer_params,
    pp_layer_ranges,
    weight_bytes,
)
from estimator.params import count_params

H100 = get_gpu("h100-sxm")
PRESETS = list_presets()


def _mem(model, **kw):
    return compute(load_model(model), make_options(**kw), H100)


def _tp_up_to(slug, want):
    """The largest tp <= want (a power of two) that vLLM's attention accepts for ``slug``
    (Qwen2-57B-A14B has 28 heads: tp=8 is refused)."""
    s = load_model(slug).spec
    tp = want
    while s.num_attention_heads % tp or (s.mla is None and (
            s.num_key_value_heads % tp if s.num_key_value_heads >= tp
            else tp % s.num_key_value_heads)):
        tp //= 2
    return tp


# ----------------------------------------------------------------------------------------------
# KV cache vs transformers' cache tensors
# ----------------------------------------------------------------------------------------------

WINDOW = 6  # small enough that SEQ_LENS straddle it
SEQ_LENS = (4, 5, 6, 11)  # below window-1, at window-1, at window, above


def _kv_configs() -> list[tuple[str, dict]]:
    """Small random configs, one or more per family with a distinct cache shape."""
    rng = random.Random("kv-cache")
    out = []

    def trunk(L=None):
        return {"num_hidden_layers": L or rng.randint(2, 4), "vocab_size": rng.randint(40, 90),
                "hidden_size": 32, "intermediate_size": rng.randint(8, 40),
                "max_position_embeddings": 64}

    for g in (4, 2, 1):  # MHA, GQA, MQA
        out.append(("llama", {"model_type": "llama", **trunk(), "num_attention_heads": 4,
                              "num_key_value_heads": g}))
    out.append(("gemma", {"model_type": "gemma", **trunk(), "num_attention_heads": 4,
                          "num_key_value_heads": 1, "head_dim": 24}))
    out.append(("qwen3", {"model_type": "qwen3", **trunk(), "num_attention_heads": 4,
                          "num_key_value_heads": 2, "head_dim": 10}))
    out.append(("mistral", {"model_type": "mistral", **trunk(), "num_attention_heads": 4,
                            "num_key_value_heads": 2, "sliding_window": WINDOW}))
    out.append(("mixtral", {"model_type": "mixtral", **trunk(), "num_attention_heads": 4,
                            "num_key_value_heads": 2, "num_local_experts": 4,
                            "num_experts_per_tok": 2, "sliding_window": WINDOW}))
    L = 4
    out.append(("qwen2 max_window_layers",
                {"model_type": "qwen2", **trunk(L), "num_attention_heads": 4,
                 "num_key_value_heads": 2, "use_sliding_window": True,
                 "sliding_window": WINDOW, "max_window_layers": 1}))
    out.append(("qwen2 layer_types",
                {"model_type": "qwen2", **trunk(L), "num_attention_heads": 4,
                 "num_key_value_heads": 1, "sliding_window": WINDOW, "use_sliding_window": True,
                 "layer_types": ["full_attention", "sliding_attention", "sliding_attention",
                                 "full_attention"]}))
    out.append(("gpt_oss", {"model_type": "gpt_oss", **trunk(L), "num_attention_heads": 4,
                            "num_key_value_heads": 2, "head_dim": 8, "num_local_experts": 4,
                            "num_experts_per_tok": 2, "sliding_window": WINDOW,
                            "layer_types": ["sliding_attention", "full_attention"] * 2}))
    out.append(("llama4_text chunked",
                {"model_type": "llama4_text", **trunk(L), "num_attention_heads": 4,
                 "num_key_value_heads": 2, "head_dim": 8, "num_local_experts": 3,
                 "num_experts_per_tok": 1, "intermediate_size_mlp": 24,
                 "attention_chunk_size": WINDOW}))
    out.append(("jetmoe", {"model_type": "jetmoe", **trunk(), "num_key_value_heads": 2,
                           "kv_channels": 6, "num_local_experts": 3, "num_experts_per_tok": 2}))
    for mt in ("deepseek_v2", "deepseek_v3"):
        for q_lora in (None, 12):
            out.append((mt, {"model_type": mt, **trunk(), "num_attention_heads": 4,
                             "num_key_value_heads": 4, "n_routed_experts": 4,
                             "num_experts_per_tok": 2,
                             "moe_intermediate_size": 8, "first_k_dense_replace": 1,
                             "q_lora_rank": q_lora, "kv_lora_rank": 10, "qk_nope_head_dim": 6,
                             "qk_rope_head_dim": 4, "v_head_dim": 5, "n_group": 1,
                             "topk_group": 1}))
    for mt, extra in (("olmoe", {"num_experts": 4, "num_experts_per_tok": 2}),
                      ("qwen3_moe", {"num_experts": 4, "num_experts_per_tok": 2,
                                     "moe_intermediate_size": 8, "head_dim": 12}),
                      ("glm4_moe", {"n_routed_experts": 4, "num_experts_per_tok": 2,
                                    "moe_intermediate_size": 8, "first_k_dense_replace": 1,
                                    "n_group": 1, "topk_group": 1}),
                      ("phimoe", {"num_local_experts": 4, "num_experts_per_tok": 2,
                                  "sliding_window": WINDOW}),
                      ("qwen2_moe", {"num_experts": 4, "num_experts_per_tok": 2,
                                     "moe_intermediate_size": 8,
                                     "shared_expert_intermediate_size": 12}),
                      ("granitemoe", {"num_local_experts": 4, "num_experts_per_tok": 2})):
        out.append((mt, {"model_type": mt, **trunk(), "num_attention_heads": 4,
                         "num_key_value_heads": 2, **extra}))
    out.append(("dbrx", {"model_type": "dbrx", "d_model": 32, "n_heads": 4, "n_layers": 2,
                         "vocab_size": 64, "max_seq_len": 64,
                         "attn_config": {"kv_n_heads": 2, "rope_theta": 10000.0, "clip_qkv": 8.0},
                         "ffn_config": {"ffn_hidden_size": 16, "moe_num_experts": 3,
                                        "moe_top_k": 2}}))
    return out


def _table_kv_configs() -> list[tuple[str, dict]]:
    """The families added with the family table: three random configs each (sliding-window
    families draw windows of 3-6 tokens, straddled by SEQ_LENS, and explicit layer_types)."""
    import family_configs

    return [(mt, cfg) for mt in family_configs.GENERATORS
            if mt not in family_configs.NO_TRANSFORMERS_CACHE
            for cfg in family_configs.random_configs(mt, 3, salt="kv")]


KV_CONFIGS = _kv_configs() + _table_kv_configs()


def _build_real(cfg: dict):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import hf_oracle

    hf_cfg = hf_oracle.hf_config(cfg)
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_cfg, attn_implementation="eager",
                                                 experts_implementation="eager")
    return model.eval()


def _cache_bytes(model, vocab: int, batch: int, seq_len: int) -> int:
    import torch

    ids = torch.randint(0, vocab, (batch, seq_len), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
    cache = getattr(out, "past_key_values", None)
    total = 0
    for layer in cache.layers:
        for t in (layer.keys, layer.values):
            if t is not None:
                total += t.numel() * t.element_size()
    return total


@pytest.mark.parametrize("name,cfg", KV_CONFIGS, ids=[f"{i}-{n}" for i, (n, _) in
                                                       enumerate(KV_CONFIGS)])
def test_kv_cache_equals_transformers_cache(name, cfg):
    """Default ('engine') layout = what transformers 5.x caches, every family, every length.

    For MLA that is the latent (transformers 5.x caches ``kv_nope`` and ``k_rot`` before
    expanding them), as engines do."""
    model = _build_real(cfg)
    spec = spec_from_hf_config(cfg)
    batch = 3
    # Falcon's new decoder architecture (40B/180B): transformers broadcasts each K/V group to
    # all its query heads before caching (FalconAttention._split_heads), so its cache holds a/g
    # times what the model defines and engines keep (g = num_kv_heads).
    expand = (spec.num_attention_heads // spec.num_key_value_heads
              if cfg.get("new_decoder_architecture") else 1)
    for seq in SEQ_LENS:
        measured = _cache_bytes(model, spec.vocab_size, batch, seq)
        assert expand * kv_cache_bytes(spec, batch, seq, "fp32", "engine") == measured, (name,
                                                                                        seq)


def test_kv_dtype_auto_is_the_model_dtype():
    """kv_dtype 'auto' (the default) = the cache transformers keeps for a model loaded in the
    weight dtype: fp32 → fp32 cache, bf16 → bf16, fp16 → fp16 (vLLM's 'auto' likewise uses the
    model dtype)."""
    import torch

    cfg = next(c for n, c in KV_CONFIGS if n == "mistral")
    model = _build_real(cfg)
    spec = spec_from_hf_config(cfg)
    for dtype, torch_dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16),
                               ("fp16", torch.float16)):
        model = model.to(torch_dtype)
        for seq in (4, 11):
            measured = _cache_bytes(model, spec.vocab_size, 2, seq)
            mem = compute(spec, make_options(batch=2, seq_len=seq, dtype=dtype), H100)
            assert mem.kv_cache == measured, (dtype, seq)
            assert mem.kv_dtype == dtype


@pytest.mark.parametrize("dtype", ["fp8", "int8", "int4", "mxfp4"])
def test_kv_dtype_auto_is_bf16_for_quantized_weights(dtype):
    """Quantized weights compute in bf16, so 'auto' caches bf16; an explicit kv_dtype wins."""
    auto = _mem("mixtral-8x7b", batch=2, seq_len=1024, dtype=dtype)
    assert auto.kv_dtype == "bf16"
    assert auto.kv_cache == _mem("mixtral-8x7b", batch=2, seq_len=1024, kv_dtype="bf16").kv_cache
    fp8 = _mem("mixtral-8x7b", batch=2, seq_len=1024, dtype=dtype, kv_dtype="fp8")
    assert (fp8.kv_dtype, 2 * fp8.kv_cache) == ("fp8", auto.kv_cache)


@pytest.mark.parametrize("mt", ["deepseek_v2", "deepseek_v3"])
def test_mla_transformers_layout_equals_decompressed_kv(mt, monkeypatch):
    """'transformers' layout = the per-head K (a·(nope+rope)) and V (a·v) tensors transformers'
    DeepSeek code expands from the cache (what transformers 4.x kept in its cache)."""
    cfgs = [c for n, c in KV_CONFIGS if n == mt]
    import importlib

    mod = importlib.import_module(f"transformers.models.{mt}.modeling_{mt}")
    cls = next(getattr(mod, n) for n in dir(mod) if n.endswith("Attention")
               and hasattr(getattr(mod, n), "expand_kv"))
    seen: list[int] = []
    orig = cls.expand_kv

    def spy(self, kv_nope, k_rot):
        k, v = orig(self, kv_nope, k_rot)
        seen.append(k.numel() * k.element_size() + v.numel() * v.element_size())
        return k, v

    monkeypatch.setattr(cls, "expand_kv", spy)
    for cfg in cfgs:
        model = _build_real(cfg)
        spec = spec_from_hf_config(cfg)
        for seq in (4, 11):
            seen.clear()
            _cache_bytes(model, spec.vocab_size, 2, seq)
            assert len(seen) == spec.num_hidden_layers
            assert kv_cache_bytes(spec, 2, seq, "fp32", "transformers") == sum(seen)


def test_deepseek_v3_latent_per_token():
    """DeepSeek-V2 paper / REFERENCE §4: (512 + 64) × 61 layers × 2 bytes = 70,272 B/token."""
    d = _mem("deepseek-v3", seq_len=1024).to_dict()
    assert d["kv_cache_per_token"] == 70_272
    assert d["kv_layout"] == "engine"
    t = _mem("deepseek-v3", seq_len=1024, kv_cache="transformers").to_dict()
    # 128 heads × (192 + 128) × 61 × 2 bytes
    assert t["kv_cache_per_token"] == 128 * (192 + 128) * 61 * 2


def test_fp8_kv_halves_bf16():
    a = _mem("llama-3-8b", batch=4, seq_len=2048).kv_cache
    b = _mem("llama-3-8b", batch=4, seq_len=2048, kv_dtype="fp8").kv_cache
    assert 2 * b == a


# ----------------------------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("slug,gib", [("gpt-oss-120b", 60.8), ("gpt-oss-20b", 12.8)])
def test_gpt_oss_mxfp4_checkpoint_size(slug, gib):
    """OpenAI's gpt-oss model card (arXiv 2508.10925): checkpoint 60.8 GiB / 12.8 GiB with MXFP4
    experts and bf16 for the rest; the card rounds to 0.1 GiB."""
    if slug not in PRESETS:
        pytest.skip(f"preset {slug} not written yet")
    w = sum(weight_bytes(load_model(slug).spec, "mxfp4").values())
    assert abs(w / GIB - gib) <= 0.05


def test_llama3_8b_weights_match_vllm_log():
    """vLLM PR #10511's memory-profiling log for meta-llama/Meta-Llama-3-8B on H100:
    'model weights take 14.96GiB' (tp=1) and '7.48GiB' (tp=2); two decimals."""
    if "llama-3-8b" not in PRESETS:
        pytest.skip("preset llama-3-8b missing")
    assert abs(_mem("llama-3-8b").per_gpu.weights_total / GIB - 14.96) <= 0.005
    assert abs(_mem("llama-3-8b", tp=2).per_gpu.weights_total / GIB - 7.48) <= 0.005


@pytest.mark.parametrize("slug", PRESETS)
def test_weights_cover_every_parameter(slug):
    """bf16 weights = 2 bytes × (all parameters + buffers + vision tower) of the params oracle;
    fp32 = 4; without the vision tower, the language model alone."""
    s = load_model(slug).spec
    p = count_params(s)
    assert sum(weight_bytes(s, "bf16").values()) == 2 * (p.total + p.buffers + p.vision)
    assert sum(weight_bytes(s, "fp32").values()) == 4 * (p.total + p.buffers + p.vision)
    assert sum(weight_bytes(s, "bf16", vision=False).values()) == 2 * (p.total + p.buffers)


_NOT_QUANTIZED = re.compile(r"(embed_tokens|\.wte\.|lm_head|\.gate\.weight$|router|"
                            r"shared_expert_gate|bias$)")


def _quantizable_numel(model) -> int:
    """Matrices a weight-only quantizer converts: ≥2-D parameters that are not embeddings,
    lm_head, routers/gates or (batched) biases — read from transformers' module names."""
    return sum(p.numel() for n, p in model.named_parameters()
               if p.dim() >= 2 and not _NOT_QUANTIZED.search(n))


def _quantized_numel(spec) -> int:
    lp = layer_params(spec)
    return (spec.num_hidden_layers * lp.attn_mat + spec.num_dense_layers * lp.dense_mat
            + spec.num_moe_layers * (lp.shared_mat + lp.expert_mat))


@pytest.mark.parametrize("mt", ["llama", "gemma", "mixtral", "qwen2_moe", "deepseek_v2",
                                "deepseek_v3", "gpt_oss", "llama4_text", "jetmoe", "dbrx",
                                "glm4_moe", "phimoe", "olmoe"])
def test_quantized_split_matches_transformers_modules(mt):
    """The matrices we quantize (and so the 16-bit remainder) equal transformers' own ≥2-D
    non-router, non-embedding parameters, on the params test's random configs."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import hf_oracle
    from test_params_hf import random_configs

    for cfg in random_configs(mt, 6):
        spec = spec_from_hf_config(cfg)
        assert _quantized_numel(spec) == _quantizable_numel(hf_oracle.build(cfg)), cfg


def test_quantized_dtypes_keep_sixteen_bit_tensors():
    d = _mem("mixtral-8x7b", dtype="int4").to_dict()
    assert {"embedding", "lm_head", "router", "norms", "biases"} <= set(d["sixteen_bit_tensors"])
    assert d["weights_breakdown"]["embedding"] == 2 * 32000 * 4096
    assert _mem("mixtral-8x7b").to_dict()["sixteen_bit_tensors"] == []
    assert "attention" in _mem("gpt-oss-20b", dtype="mxfp4").to_dict()["sixteen_bit_tensors"]


def test_moe_weights_follow_total_params():
    """All experts are resident: weights do not depend on k."""
    s = load_model("mixtral-8x7b").spec
    assert weight_bytes(s, "bf16") == weight_bytes(s.replace(num_experts_per_tok=1), "bf16")


# ----------------------------------------------------------------------------------------------
# parallelism
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("L,pp,golden", [
    (2, 2, [(0, 1), (1, 2)]), (3, 2, [(0, 2), (2, 3)]), (3, 3, [(0, 1), (1, 2), (2, 3)]),
    (4, 3, [(0, 1), (1, 3), (3, 4)]), (5, 3, [(0, 2), (2, 4), (4, 5)]),
    (20, 4, [(0, 5), (5, 10), (10, 15), (15, 20)])])
def test_pp_split_matches_vllm(L, pp, golden):
    """vLLM tests/distributed/test_pipeline_partition.py goldens for get_pp_indices."""
    assert list(pp_layer_ranges(L, pp)) == golden


def test_pp_larger_than_layers_is_an_error():
    with pytest.raises(EstimatorError, match="pp"):
        _mem("llama-3-8b", pp=64, num_gpus=64)


def test_tp_splits_weights_and_kv():
    one = _mem("llama-3-70b", batch=8, seq_len=4096)
    four = _mem("llama-3-70b", batch=8, seq_len=4096, tp=4)
    assert four.per_gpu.kv_cache * 4 == one.per_gpu.kv_cache  # 8 KV heads over 4
    assert 3.9 < one.per_gpu.weights_total / four.per_gpu.weights_total <= 4.0
    # tp beyond the KV heads replicates them (vLLM): one head per GPU at tp=16
    sixteen = _mem("llama-3-70b", batch=8, seq_len=4096, tp=16, num_gpus=16)
    assert sixteen.per_gpu.kv_cache * 8 == one.per_gpu.kv_cache
    assert four.to_dict()["gpus"] == 4


#: A small JetMoE (MoA: 2 of 3 attention experts of 4 heads → 8 query heads).
JETMOE = {"model_type": "jetmoe", "num_hidden_layers": 2, "vocab_size": 64, "hidden_size": 64,
          "intermediate_size": 32, "num_key_value_heads": 4, "kv_channels": 16,
          "num_local_experts": 3, "num_experts_per_tok": 2, "max_position_embeddings": 64}


@pytest.mark.parametrize("slug,tp", [("llama-3-8b", 5), ("llama-3-8b", 64), ("llama-3-8b", 3),
                                     ("qwen2-57b-a14b", 8), ("deepseek-v3", 48),
                                     ("jetmoe", 16)])
def test_tp_no_engine_accepts_is_an_error(slug, tp):
    """vLLM's attention layers assert ``num_attention_heads % tp == 0`` (LlamaAttention and
    every family's copy; MLA and MoA on their num_attention_heads too): Llama-3-8B's 32 heads
    do not split 5 or 64 ways, Qwen2-57B-A14B's 28 not 8 ways (its known vLLM limit)."""
    model = spec_from_hf_config(JETMOE) if slug == "jetmoe" else load_model(slug)
    a = (model.spec if hasattr(model, "spec") else model).num_attention_heads
    with pytest.raises(EstimatorError, match=f"must divide num_attention_heads={a}") as e:
        compute(model, make_options(tp=tp, num_gpus=tp), H100)
    assert e.value.field == "tp" and e.value.value == tp


def test_tp_kv_heads_split_or_replicated_whole():
    """vLLM: with g >= tp, tp divides g; with g < tp, g divides tp (KV heads replicated whole).
    A 40-head, 8-KV-head model at tp=10 or 20 passes the head rule and breaks the KV one (8
    divides neither); tp=4 splits its KV heads, tp=8 gives one each, tp=40 replicates each 5×."""
    spec = load_model("llama-3-8b").spec.replace(num_attention_heads=40, head_dim=128)
    for tp in (10, 20):
        with pytest.raises(EstimatorError, match="num_key_value_heads=8"):
            compute(spec, make_options(tp=tp, num_gpus=tp), H100)
    for tp in (4, 8, 40):
        assert compute(spec, make_options(tp=tp, num_gpus=tp), H100).lay.tp == tp


def test_mla_latent_replicated_over_tp():
    a = _mem("deepseek-v3", tp=8, seq_len=4096)
    assert a.per_gpu.kv_cache == a.kv_cache  # the latent is on every rank
    b = _mem("deepseek-v3", tp=8, seq_len=4096, kv_cache="transformers")
    assert b.per_gpu.kv_cache * 8 == b.kv_cache  # 128 heads over 8


def test_pp_stages_and_busiest_stage():
    r = _mem("mixtral-8x7b", pp=4, batch=4)
    d = r.to_dict()
    assert len(d["per_gpu_by_stage"]) == 4 and d["gpus"] == 4
    assert d["per_gpu"]["total"] == max(d["per_gpu_by_stage"])
    assert sum(st.weights["embedding"] for st in r.stages) == r.weights_breakdown["embedding"]
    assert r.stages[-1].weights["lm_head"] and not r.stages[0].weights["lm_head"]


def test_notes_beyond_trained_context_and_ep_on_dense():
    r = _mem("llama-3-8b", seq_len=16384)  # max_position_embeddings 8192
    assert any("beyond the model's trained context" in n for n in r.notes)
    assert not any("trained context" in n for n in _mem("llama-3-8b", seq_len=8192).notes)
    d = _mem("llama-3-8b", ep=4, tp=4, num_gpus=4)
    assert any("ep=4 ignored" in n for n in d.notes) and d.lay.ep == 1 and d.lay.gpus == 4
    assert not any("ignored" in n for n in _mem("mixtral-8x7b", ep=2, tp=2).notes)


@pytest.mark.parametrize("slug,ep", [("mixtral-8x7b", 8), ("deepseek-v3", 16),
                                     ("qwen1.5-moe-a2.7b", 8), ("llama-3-8b", 4)])
def test_smallest_fit_layouts_are_the_ladder_rungs(slug, ep):
    """With ep > tp a layout would grow to pp·lcm(tp, ep) GPUs; smallest_fit keeps every rung at
    tp·pp by taking ep = the largest divisor of tp (<= the requested ep) that divides E (60
    experts at tp=8: ep=4)."""
    from estimator.memory import smallest_fit

    m = load_model(slug)
    plan = smallest_fit(m, make_options(ep=ep), H100)
    E = m.spec.num_experts
    for row in plan["tried"]:
        if "error" in row:
            continue
        assert row["gpus"] == row["tp"] * row["pp"], row
        assert row["tp"] % row["ep"] == 0 and row["ep"] <= ep
        assert row["ep"] == 1 if not E else E % row["ep"] == 0
    assert "largest divisor of tp" in plan["method"] or not E


def test_fit_ep_divides_tp_and_the_experts():
    from estimator.memory import fit_ep

    qwen = load_model("qwen1.5-moe-a2.7b").spec  # 60 experts
    assert [fit_ep(qwen, tp, 8) for tp in (1, 2, 4, 8)] == [1, 2, 4, 4]
    assert fit_ep(qwen, 8, 1) == 1  # ep=1 asked: experts split by tp only
    assert fit_ep(load_model("llama-3-8b").spec, 8, 8) == 1  # dense


def test_conventions_name_the_pipeline_split():
    text = _mem("llama-3-8b").to_dict()["conventions"]["parallelism"]
    assert "vLLM's split" in text and "get_pp_indices" in text


def test_expert_parallel_with_data_parallel_attention():
    r = _mem("qwen3-30b-a3b", ep=4, batch=8)
    d = r.to_dict()
    assert d["gpus"] == 4 and d["parallel"]["attention_dp"] == 4
    s = load_model("qwen3-30b-a3b").spec
    assert r.per_gpu.weights["routed_experts"] * 4 == r.weights_breakdown["routed_experts"]
    assert r.per_gpu.kv_cache * 4 == kv_cache_bytes(s, 8, 4096)


# ----------------------------------------------------------------------------------------------
# what fits
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("slug", PRESETS)
def test_memory_monotone_in_batch_and_seq_len(slug):
    tp = _tp_up_to(slug, 8)
    prev = None
    for b in (1, 2, 5, 16):
        t = _mem(slug, batch=b, seq_len=2048, tp=tp).per_gpu.total
        assert prev is None or t >= prev
        prev = t
    prev = None
    for sl in (1, 100, 4096, 50_000):
        r = _mem(slug, batch=2, seq_len=sl, tp=tp)
        assert prev is None or (r.per_gpu.total >= prev[0] and r.kv_cache >= prev[1])
        prev = (r.per_gpu.total, r.kv_cache)


@pytest.mark.parametrize("slug,kw", [("llama-3-8b", {}), ("mixtral-8x7b", {"tp": 4}),
                                     ("gpt-oss-20b", {"dtype": "mxfp4", "seq_len": 32768}),
                                     ("qwen3-30b-a3b", {"ep": 2, "seq_len": 300}),
                                     ("llama-3-70b", {"tp": 4, "pp": 2, "seq_len": 1000}),
                                     ("llama-3-8b", {"max_num_batched_tokens": 8192})])
def test_max_batch_is_on_the_boundary(slug, kw):
    r = _mem(slug, **kw)
    mb = r.max_batch
    assert mb > 0
    assert _mem(slug, **{**kw, "batch": mb}).fits
    group = r.lay.dp_attn
    assert not _mem(slug, **{**kw, "batch": mb + group}).fits


def test_max_batch_and_max_seq_len_stay_on_the_boundary_as_the_workload_moves():
    """Both searches are remembered per stage models and the workload figures they depend on
    (max_batch: seq_len; max_seq_len: the batch), not per report: moving the batch slider then
    the context slider must not hand one workload another's answer."""
    for seq_len in (1000, 4096, 1000):
        for batch in (1, 7, 30):
            kw = {"tp": 2, "seq_len": seq_len, "batch": batch}
            r = _mem("mixtral-8x7b", **kw)
            assert _mem("mixtral-8x7b", **{**kw, "batch": r.max_batch}).fits
            assert not _mem("mixtral-8x7b", **{**kw, "batch": r.max_batch + 1}).fits
            assert _mem("mixtral-8x7b", **{**kw, "seq_len": r.max_seq_len_memory}).fits
            assert not _mem("mixtral-8x7b",
                            **{**kw, "seq_len": r.max_seq_len_memory + 1}).fits


@pytest.mark.parametrize("slug,kw", [("llama-2-7b", {"batch": 64}),
                                     ("mixtral-8x7b", {"tp": 2, "batch": 8}),
                                     ("gpt-oss-120b", {"dtype": "mxfp4", "batch": 4})])
def test_max_seq_len_is_on_the_boundary(slug, kw):
    r = _mem(slug, **kw)
    if r.max_seq_len_limited_by != "memory":
        pytest.skip("limited by max_position_embeddings")
    s = r.max_seq_len
    assert _mem(slug, **{**kw, "seq_len": s}).fits
    assert not _mem(slug, **{**kw, "seq_len": s + 1}).fits


def test_nothing_fits_when_weights_do_not():
    d = _mem("deepseek-v3").to_dict()  # 1.3 TB of bf16 on one 80 GB GPU
    assert not d["fits"] and d["max_batch"] == 0 and d["max_seq_len"] == 0
    assert d["headroom"] < 0


def test_to_dict_keys_and_parts_add_up():
    d = _mem("mixtral-8x7b", tp=2, batch=4).to_dict()
    for k in ("weight_dtype", "kv_dtype", "kv_layout", "weights", "kv_cache", "kv_cache_per_token",
              "activations", "overhead", "total", "per_gpu", "gpus", "gpu_memory", "fits",
              "max_batch", "max_seq_len", "sixteen_bit_tensors", "conventions"):
        assert k in d
    assert d["total"] == d["weights"] + d["kv_cache"] + d["activations"] + d["overhead"]
    pg = d["per_gpu"]
    assert pg["total"] == pg["weights"] + pg["kv_cache"] + pg["activations"] + pg["overhead"]
    assert pg["weights"] == sum(pg["weights_breakdown"].values())
    assert d["headroom"] == d["gpu_memory"] - pg["total"]


def test_chunked_prefill_caps_activations():
    """With max_num_batched_tokens the activation peak stops growing with the batch, so more
    sequences fit (their KV cache is what limits them)."""
    a = _mem("llama-3-8b", batch=32, max_num_batched_tokens=8192)
    b = _mem("llama-3-8b", batch=64, max_num_batched_tokens=8192)
    assert a.per_gpu.activation_peak == b.per_gpu.activation_peak
    assert a.max_batch > _mem("llama-3-8b", batch=32).max_batch
    small = _mem("llama-3-8b", batch=1, seq_len=100, max_num_batched_tokens=8192)
    assert small.activations == _mem("llama-3-8b", batch=1, seq_len=100).activations


def test_activation_logits_last_position_only():
    """Logits are b·V fp32 (last position), not b·s·V."""
    d = _mem("llama-3-8b", batch=2, seq_len=1000).to_dict()
    assert d["activations_breakdown"]["logits"] == 2 * 128256 * 4


@pytest.mark.parametrize("slug", ["deepseek-v3", "gpt-oss-120b", "llama-4-scout",
                                  "mixtral-8x7b"])
def test_compute_is_fast(slug):
    m = load_model(slug)
    o = make_options(tp=8, batch=16, seq_len=8192)
    compute(m, o, H100)
    n = 200
    t = time.perf_counter()
    for _ in range(n):
        compute(m, o, H100)
    assert (time.perf_counter() - t) / n < 2e-3  # typically ~0.1 ms

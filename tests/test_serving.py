"""Serving speed (estimator/serving.py) against independent references.

* The expected number of distinct experts touched, ``E·(1 − (1 − k/E)^b)``, against a seeded
  Monte-Carlo simulation of uniform independent top-k routing (tolerance from the sample size),
  and REFERENCE §4's Mixtral anchors (2 at b=1, 7.2 at b=8, ~8 at b=32).
* With expert parallelism, the expected distinct experts on the busiest rank against exhaustive
  enumeration of every routing (small cases) and a seeded Monte-Carlo simulation of the maximum
  (larger ones); Mixtral at ep=8, b=1 reads one whole expert per layer on the busiest GPU.
* The peak FLOP/s per dtype against the datasheet figures.
* Decode bytes at b=1 equal the active parameters' bytes of the params oracle (not the memory
  module's formulas), and approach every weight at large b.
* Invariants on every preset: bytes between active and total, tokens/s per GPU nondecreasing in
  b, the compute-bound crossing on its boundary; speed.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import time

import pytest
from single_gpu import make_options  # noqa: E402  (tp = pp = ep = 1 unless set)

from estimator import list_presets, load_model, serving
from estimator.hardware import get_gpu
from estimator.params import count_params
from estimator.serving import (
    compute,
    compute_bound_from_batch,
    expected_busiest_rank_experts,
    expected_distinct_experts,
    expert_rank_sizes,
)

H100 = get_gpu("h100-sxm")
PRESETS = list_presets()
MOE_PRESETS = [p for p in PRESETS if load_model(p).spec.is_moe]


def _serve(model, **kw):
    return compute(load_model(model), make_options(**kw), H100)


# ----------------------------------------------------------------------------------------------
# expected distinct experts
# ----------------------------------------------------------------------------------------------

def _simulate(E: int, k: int, b: int, trials: int, rng: random.Random) -> list[int]:
    """Distinct experts touched by b tokens, each choosing k distinct experts uniformly."""
    experts = range(E)
    return [len(set().union(*(rng.sample(experts, k) for _ in range(b))))
            for _ in range(trials)]


@pytest.mark.parametrize("E,k,b", [(8, 2, 1), (8, 2, 3), (8, 2, 8), (8, 2, 32), (64, 8, 4),
                                   (128, 4, 16), (128, 4, 64), (256, 8, 32), (16, 1, 10)])
def test_expected_distinct_experts_matches_monte_carlo(E, k, b):
    rng = random.Random(f"experts-{E}-{k}-{b}")
    trials = 3000
    xs = _simulate(E, k, b, trials, rng)
    mean = statistics.fmean(xs)
    sd = statistics.pstdev(xs)
    # 4 standard errors, plus the rule of three (3/N) for events too rare to show in N trials
    # (at b=32, E=8 every trial may touch all 8 experts while the mean is 7.9992)
    tol = 4 * sd / math.sqrt(trials) + 3 / trials
    assert abs(expected_distinct_experts(E, k, b) - mean) <= tol, (mean, tol)


def test_mixtral_anchors():
    """REFERENCE.md §4: Mixtral (E=8, k=2) touches 2 experts at b=1, 7.2 at b=8, ~8 at b=32."""
    assert expected_distinct_experts(8, 2, 1) == 2
    assert abs(expected_distinct_experts(8, 2, 8) - 7.2) < 0.005
    assert 7.99 < expected_distinct_experts(8, 2, 32) <= 8


def test_mixtral_table_shows_the_anchors():
    d = _serve("mixtral-8x7b", tp=2, seq_len=512).to_dict()
    touched = {p["batch"]: p["experts_touched_per_layer"] for p in d["decode"]}
    assert touched[1] == 2 and abs(touched[8] - 7.2) < 0.005 and touched[32] > 7.99


# ----------------------------------------------------------------------------------------------
# the busiest expert-parallel rank
# ----------------------------------------------------------------------------------------------

def _owners(E: int, ep: int) -> list[int]:
    """Rank of each expert as vLLM's determine_expert_map (linear placement) assigns them:
    contiguous blocks of E // ep, one more on the first E % ep ranks."""
    base, rem = divmod(E, ep)
    return [r for r in range(ep) for _ in range(base + (1 if r < rem else 0))]


def _busiest(touched, owner, ep: int) -> int:
    counts = [0] * ep
    for e in touched:
        counts[owner[e]] += 1
    return max(counts)


def test_rank_sizes_match_vllm_placement():
    assert expert_rank_sizes(256, 3) == (85, 1, 2)  # vLLM logs 86/85/85 for 256 experts, ep=3
    assert expert_rank_sizes(8, 8) == (1, 0, 8)
    assert expert_rank_sizes(60, 8) == (7, 4, 4)


@pytest.mark.parametrize("E,k,ep,b", [(8, 2, 2, 3), (8, 2, 4, 3), (8, 2, 3, 2), (7, 2, 3, 3),
                                      (6, 1, 4, 5), (5, 3, 2, 4), (6, 3, 3, 3), (4, 2, 2, 4),
                                      (9, 2, 4, 3), (8, 2, 8, 2)])
def test_busiest_rank_equals_exhaustive_enumeration(E, k, ep, b):
    """Every one of the C(E,k)^b routings, equally likely: the exact expectation (both the
    token-by-token branch and the untouched-experts series are covered: x = E(1-k/E)^b is
    above 1 for some cases, below for (5,3,2,4), (6,3,3,3), (4,2,2,4))."""
    owner = _owners(E, ep)
    subsets = list(itertools.combinations(range(E), k))
    total = sum(_busiest(set().union(*route), owner, ep)
                for route in itertools.product(subsets, repeat=b))
    want = total / len(subsets) ** b
    assert expected_busiest_rank_experts(E, k, ep, b) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("E,k,ep,b", [(64, 8, 8, 4), (60, 4, 8, 16), (128, 4, 16, 32),
                                      (256, 8, 8, 16), (16, 1, 4, 10), (128, 1, 8, 64),
                                      (256, 8, 32, 8), (160, 6, 16, 256)])
def test_busiest_rank_matches_monte_carlo(E, k, ep, b):
    rng = random.Random(f"busiest-{E}-{k}-{ep}-{b}")
    owner = _owners(E, ep)
    trials = 1500
    xs = []
    for _ in range(trials):
        touched = set()
        for _ in range(b):
            touched.update(rng.sample(range(E), k))
        xs.append(_busiest(touched, owner, ep))
    mean, sd = statistics.fmean(xs), statistics.pstdev(xs)
    tol = 4 * sd / math.sqrt(trials) + 3 / trials
    assert abs(expected_busiest_rank_experts(E, k, ep, b) - mean) <= tol, (mean, tol)


def test_busiest_rank_bounds_and_limits():
    """max ≥ mean over ranks; ≤ the rank's experts and ≤ all distinct experts; ep=1 is the
    closed form; huge batches touch every expert of the largest rank."""
    for E, k, ep in ((8, 2, 8), (8, 2, 2), (128, 8, 8), (60, 4, 8), (256, 8, 32), (16, 1, 4)):
        held = -(-E // ep)
        for b in (1, 2, 3, 7, 16, 100, 1000, 10**6):
            d = expected_distinct_experts(E, k, b)
            m = expected_busiest_rank_experts(E, k, ep, b)
            assert d / ep - 1e-9 <= m <= min(held, d) + 1e-9, (E, k, ep, b)
            assert expected_busiest_rank_experts(E, k, 1, b) == d
        assert expected_busiest_rank_experts(E, k, ep, 10**6) == pytest.approx(held, abs=1e-12)


def test_token_by_token_and_series_branches_agree():
    """Both exact methods at batches where either applies; the token-by-token distribution's
    mean equals the closed form E·(1-(1-k/E)^b)."""
    for E, k in ((8, 2), (64, 8), (128, 1), (256, 8)):
        occ = serving._occupancy(E, k)
        for b in (1, 5, 40, 300):
            lo, p = occ.at(b)
            mean = sum(pj * (lo + i) for i, pj in enumerate(p))
            assert mean == pytest.approx(expected_distinct_experts(E, k, b), rel=1e-12)
        for ep in (2, 8):
            M = serving.busiest_rank_given_distinct(E, ep)
            b = 2 * math.ceil(math.log(E) / -math.log(1 - k / E))  # x = E(1-k/E)^b < 1
            lo, p = occ.at(b)
            stepped = sum(pj * M[lo + i] for i, pj in enumerate(p))
            assert expected_busiest_rank_experts(E, k, ep, b) == pytest.approx(stepped,
                                                                                abs=1e-12)


def test_mixtral_ep8_reads_a_whole_expert_per_layer_at_batch_one():
    """The reviewer's case: Mixtral-8x7B at tp=8, ep=8 (one expert per GPU). A token's two
    experts sit on two ranks, each reads its whole expert: per layer the busiest GPU reads 1
    expert, not the average 2/8 — so a step reads the dense share + 32 whole experts."""
    assert expected_busiest_rank_experts(8, 2, 8, 1) == 1.0
    m = load_model("mixtral-8x7b")
    s = m.spec
    opts = make_options(tp=8, ep=8, seq_len=1024)
    r = compute(m, opts, H100)
    d = r.to_dict()["decode"][0]
    assert d["batch"] == 1 and d["experts_read_per_gpu_per_layer"] == 1.0
    from estimator.params import expert_params
    one_expert_all_layers = 2 * expert_params(s) * s.num_moe_layers  # bf16
    tp_only = compute(m, make_options(tp=8, seq_len=1024), H100).decode[0]
    # without EP every GPU reads 1/8 of the two touched experts: a quarter of an expert a layer
    extra = r.decode[0].bytes_read - tp_only.bytes_read
    assert extra == pytest.approx(one_expert_all_layers * (1 - 2 / 8), rel=1e-6)
    assert r.decode[0].bytes_read > one_expert_all_layers  # ~10.9 GiB, not ~3 GiB


# ----------------------------------------------------------------------------------------------
# peak FLOP/s
# ----------------------------------------------------------------------------------------------

def test_peak_flops_per_dtype_against_datasheets():
    """H100 SXM datasheet (dense): BF16 989 TFLOP/s, FP8 1,979, TF32 494.7 (×0.5 of BF16 =
    494.5, 0.04% off). A100: no FP8 → bf16 for fp8/int8."""
    h, a = get_gpu("h100-sxm"), get_gpu("a100-80gb")
    assert h.peak_flops("bf16") == h.peak_flops("fp16") == 989e12
    assert h.peak_flops("fp8") == h.peak_flops("int8") == 1979e12
    assert h.peak_flops("int4") == h.peak_flops("mxfp4") == 989e12  # weight-only: bf16 math
    assert h.peak_flops("fp32") == pytest.approx(494.7e12, rel=1e-3)
    assert a.peak_flops("fp8") == a.peak_flops("int8") == 312e12
    assert a.peak_flops("fp32") == pytest.approx(156e12, rel=1e-3)
    assert compute(load_model("llama-3-8b"), make_options(dtype="int4"), h).peak_flops == 989e12


# ----------------------------------------------------------------------------------------------
# decode bytes
# ----------------------------------------------------------------------------------------------

def _kv_and_rows(model, opts, b):
    """KV read and embedding rows at batch b (both outside the weight comparison)."""
    from estimator import memory

    m = load_model(model)
    s = m.spec
    kv_dtype = memory.resolve_kv_dtype(opts.kv_dtype, opts.dtype)
    kv = memory.kv_cache_bytes(s, b, opts.seq_len, kv_dtype, opts.kv_cache)
    # hybrids: a decode step also reads each sequence's mixer state (activation dtype)
    kv += memory.state_bytes(s, b, memory.ACTIVATION_DTYPE[opts.dtype], opts.kv_cache)
    # the embedding table is gathered (b rows) unless it doubles as the lm_head
    rows = 0 if s.tie_word_embeddings else min(b, s.vocab_size) * s.hidden_size * 2
    return kv, rows


@pytest.mark.parametrize("slug", PRESETS)
def test_decode_bytes_at_batch_one_equal_active_parameters(slug):
    """At b=1 a step reads the active weights: 2 bytes × (params oracle's active parameters
    without the input embedding, plus buffers), plus the KV cache and one embedding row."""
    opts = make_options(seq_len=1024)
    r = compute(load_model(slug), opts, H100)
    p = count_params(load_model(slug).spec)
    kv, rows = _kv_and_rows(slug, opts, 1)
    weights_read = r.decode[0].bytes_read - kv - rows
    assert r.decode[0].batch == 1
    assert weights_read == pytest.approx(2 * (p.active_without_embedding + p.buffers), rel=1e-12)


@pytest.mark.parametrize("slug", MOE_PRESETS)
def test_decode_bytes_between_active_and_total(slug):
    opts = make_options(seq_len=1024)
    r = compute(load_model(slug), opts, H100)
    p = count_params(load_model(slug).spec)
    active = 2 * (p.active_without_embedding + p.buffers)
    everything = 2 * (p.total + p.buffers)
    prev = -1.0
    for pt in r.decode:
        kv, rows = _kv_and_rows(slug, opts, pt.batch)
        w = pt.bytes_read - kv - rows
        assert active * (1 - 1e-12) <= w <= everything
        assert w >= prev
        prev = w
    # a huge batch reads every weight
    spec = load_model(slug).spec
    if not spec.moa:
        from estimator import serving

        assert serving.touched_fraction(spec.num_experts, spec.num_experts_per_tok,
                                        10**6) == 1.0


def _tp_up_to(slug, want):
    """The largest tp <= want (a power of two) vLLM's attention accepts for ``slug``."""
    s = load_model(slug).spec
    tp = want
    while s.num_attention_heads % tp or (s.mla is None and (
            s.num_key_value_heads % tp if s.num_key_value_heads >= tp
            else tp % s.num_key_value_heads)):
        tp //= 2
    return tp


@pytest.mark.parametrize("slug", PRESETS)
def test_tokens_per_gpu_nondecreasing_in_batch(slug):
    d = _serve(slug, tp=_tp_up_to(slug, 8), seq_len=2048).to_dict()
    rates = [p["tokens_per_s_per_gpu"] for p in d["decode"]]
    assert all(b >= a * (1 - 1e-12) for a, b in zip(rates, rates[1:]))
    for p in d["decode"]:
        assert p["step_s"] == max(p["memory_time_s"], p["compute_time_s"])
        assert p["bound"] == ("compute" if p["compute_time_s"] >= p["memory_time_s"]
                              else "memory")
        assert p["tokens_per_s_per_user"] == pytest.approx(1 / p["step_s"])


@pytest.mark.parametrize("slug,kw", [("qwen3-30b-a3b", {"seq_len": 128}),
                                     ("mixtral-8x7b", {"tp": 2, "seq_len": 256}),
                                     ("gpt-oss-120b", {"dtype": "mxfp4", "seq_len": 512})])
def test_compute_bound_crossing_is_on_the_boundary(slug, kw):
    d = _serve(slug, **kw).to_dict()
    b = d["compute_bound_from_batch"]
    assert b is not None and b > 1
    hit = _serve(slug, **{**kw, "batch": b}).to_dict()["decode"]
    row = next(p for p in hit if p["batch"] == b)
    assert row["bound"] == "compute"
    below = _serve(slug, **{**kw, "batch": b - 1}).to_dict()["decode"]
    assert next(p for p in below if p["batch"] == b - 1)["bound"] == "memory"


def test_long_context_never_compute_bound():
    """At 32k context each sequence's KV read costs more time than its FLOPs: no crossing."""
    assert _serve("llama-3-8b", seq_len=32768).to_dict()["compute_bound_from_batch"] is None


def test_compute_bound_search_on_a_toy_roofline():
    """mem = 10 + b, comp = 3·b → crossing at b = 5 (3·5 = 15 ≥ 15)."""
    assert compute_bound_from_batch(lambda b: 10 + b, lambda b: 3 * b) == 5
    assert compute_bound_from_batch(lambda b: 10 + b, lambda b: 0.5 * b) is None


# ----------------------------------------------------------------------------------------------
# prefill
# ----------------------------------------------------------------------------------------------

def test_prefill_is_compute_bound_for_long_prompts_and_scales_with_gpus():
    one = _serve("llama-3-70b", tp=4, seq_len=8192, batch=4).to_dict()["prefill"]
    two = _serve("llama-3-70b", tp=8, seq_len=8192, batch=4).to_dict()["prefill"]
    assert one["bound"] == "compute"
    assert two["seconds"] == pytest.approx(one["seconds"] / 2)
    assert one["tokens_per_s"] == pytest.approx(4 * 8192 / one["seconds"])


def test_prefill_roofline_ceiling():
    """Prefill tokens/s per GPU never exceed peak × mfu / (2 × active params) (each token
    costs at least its matmuls)."""
    opts = make_options(seq_len=4096, batch=2, tp=8)
    for slug in ("mixtral-8x7b", "deepseek-v3", "llama-3-8b"):
        r = compute(load_model(slug), opts, H100).to_dict()["prefill"]
        p = count_params(load_model(slug).spec)
        mfu = compute(load_model(slug), opts, H100).mfu  # the option's, or the predicted one
        ceiling = H100.bf16_flops * mfu / (2 * p.active_non_embedding)
        assert r["tokens_per_s_per_gpu"] <= ceiling


def test_to_dict_keys():
    d = _serve("mixtral-8x7b", batch=3).to_dict()
    assert {"flops", "seconds", "tokens_per_s"} <= set(d["prefill"])
    assert {p["batch"] for p in d["decode"]} == {1, 2, 3, 4, 8, 16, 32, 64, 128, 256}
    keys = {"batch", "experts_touched_per_layer", "bytes_read", "memory_time_s",
            "compute_time_s", "step_s", "bound", "tokens_per_s", "tokens_per_s_per_user",
            "tokens_per_s_per_gpu"}
    assert all(keys <= set(p) for p in d["decode"])
    assert "compute_bound_from_batch" in d and isinstance(d["assumptions"], dict)


def test_dense_model_touches_no_experts():
    d = _serve("llama-3-8b").to_dict()
    assert all(p["experts_touched_per_layer"] == 0 for p in d["decode"])


@pytest.mark.parametrize("slug", ["deepseek-v3", "gpt-oss-120b", "mixtral-8x7b"])
def test_compute_is_fast(slug):
    m = load_model(slug)
    o = make_options(tp=8, batch=16, seq_len=8192)
    compute(m, o, H100)
    n = 100
    t = time.perf_counter()
    for _ in range(n):
        compute(m, o, H100)
    assert (time.perf_counter() - t) / n < 3e-3  # typically ~0.1 ms


@pytest.mark.parametrize("ctx", [1000, 2048, 131072])
def test_dsa_decode_reads_top_k_latents_and_every_indexer_key(ctx):
    """DeepSeek-V3.2-Exp (config.json: 61 layers, kv_lora_rank 512, qk_rope_head_dim 64,
    index_head_dim 128, index_topk 2048), bf16 KV, engine layout, tp=8: a decode step reads
    every cached token's fp8 indexer key + fp32 scale (128 + 4 B) and only the 2048 selected
    latents ((512 + 64) x 2 B), DeepSeek's inference/model.py and vLLM's FlashMLA-sparse path;
    the prefill writes the whole cache. Hand count per sequence, per GPU (MLA: the latent is on
    every TP rank)."""
    from estimator import estimate, memory

    r = estimate("deepseek-v3.2-exp", seq_len=ctx, tp=8, kv_dtype="bf16")
    lay = r.inference.lay
    spec = load_model("deepseek-v3.2-exp").spec
    models = memory.stage_models(spec, lay, "bf16", "bf16", "engine", {})
    reads = serving.decode_reads(spec, lay, "bf16", models, ctx)
    assert reads.kv_per_sequence == 61 * ctx * (1152 + 132)
    assert reads.kv_read_per_sequence == 61 * (ctx * 132 + min(ctx, 2048) * 1152)
    whole = serving.decode_reads(spec, lay, "bf16", models, ctx, "transformers")
    assert whole.kv_read_per_sequence == whole.kv_per_sequence  # transformers: a mask, all read

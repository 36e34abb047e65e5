"""The speed plumbing changes no number: each shortcut against the plain code it replaces.

The references here are the straightforward versions (plain bisection, the doubling search, the
dataclass-generated ``__init__``, the sections' ``to_dict()``), so a shortcut that drifts from
them fails, whatever the formulas say.
"""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

import estimator
from estimator import flops, memory, report, serving, training
from estimator.errors import EstimatorError
from estimator.memory import _largest_fitting
from estimator.presets import list_presets
from estimator.serving import compute_bound_from_batch, touched_fraction

OPTION_SETS = [{}, dict(batch=8, seq_len=32768, dtype="fp8", tp=2, ep=2),
               dict(batch=3, seq_len=1000, pp=3, ep=4, num_gpus=12, attention_flops="causal"),
               dict(batch=64, seq_len=2048, max_num_batched_tokens=8192, kv_dtype="fp8")]


def _bisection(ok, lo: int, hi: int) -> int:
    if ok(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def _doubling(mem_time, comp_time, limit: int = serving.MAX_BATCH_SEARCH) -> int | None:
    def cb(b):
        return comp_time(b) >= mem_time(b)

    if cb(1):
        return 1
    hi = 2
    while not cb(hi):
        if hi >= limit:
            return None
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if cb(mid) else (mid, hi)
    return hi


def _curve(shape: int, a: int, b: int, c: int, budget: int):
    """Bytes over budget, nondecreasing in x, in the shapes memory takes."""
    if shape == 0:  # linear (KV cache)
        return lambda x: a + b * x - budget
    if shape == 1:  # piecewise linear with a ceil (activations of MoE token-expert pairs)
        return lambda x: a + max(b * x, 7 * b * x - 10**11) + -(-x * 3 // 7) * c - budget
    if shape == 2:  # concave (sliding windows cap the cache)
        return lambda x: a + int(b * 1000 * math.sqrt(x)) - budget
    return lambda x: a + (x // 1000) * b * 50 - budget  # steps


def test_fit_search_equals_bisection_on_monotone_curves():
    rng = random.Random(0)
    for i in range(3000):
        f = _curve(i % 4, rng.randint(0, 10**12), rng.randint(1, 10**9), rng.randint(0, 10**6),
                   rng.randint(0, 10**13))
        hi = rng.choice([10, 1000, 2**24, 10**11])
        if f(1) > 0:
            continue
        assert _largest_fitting(f, 1, hi) == _bisection(lambda x, f=f: f(x) <= 0, 1, hi), i


def _decode_times(dense, routed, E, k, kv, row, vocab, bw, tok, rate):
    """Memory and compute time of a decode step of b sequences, one attention group (the
    shape of serving.DecodeReads.bytes_at)."""
    def mem_time(b):
        return (dense + min(b, vocab) * row + b * kv
                + (routed * touched_fraction(E, k, b) if routed else 0)) / bw

    def comp_time(b):
        return b * tok / rate

    return mem_time, comp_time


def test_monotone_compute_bound_search_equals_the_doubling_search():
    rng = random.Random(1)
    for i in range(3000):
        E = rng.randint(1, 512)
        mem_time, comp_time = _decode_times(
            dense=rng.randint(10**6, 10**11), routed=rng.choice([0, rng.randint(10**8, 10**12)]),
            E=E, k=rng.randint(1, E), kv=rng.choice([0, rng.randint(1, 10**9)]),
            row=rng.choice([0, rng.randint(1, 20000)]), vocab=rng.randint(1000, 200000),
            bw=rng.uniform(1e11, 8e12), tok=rng.randint(10**6, 10**13),
            rate=rng.uniform(1e12, 1e16))
        limit = rng.choice([serving.MAX_BATCH_SEARCH, 1000, 777, 3, 2, 1])
        want = _doubling(mem_time, comp_time, limit)
        assert compute_bound_from_batch(mem_time, comp_time, limit, monotone=True) == want, i
        assert compute_bound_from_batch(mem_time, comp_time, limit) == want, i


def test_serving_reusing_the_other_sections_equals_serving_alone():
    for slug in ("mixtral-8x7b", "deepseek-v3", "gpt-oss-20b", "llama-3-8b"):
        m = estimator.load_model(slug)
        for kw in OPTION_SETS + [dict(kv_cache="transformers", dtype="int4")]:
            r = estimator.estimate(m, **kw)
            alone = serving.compute(m, r.options, r.gpu)
            assert alone == r.serving, (slug, kw)
            assert training.compute(m, r.options, r.gpu) == r.training, (slug, kw)


def test_headline_reads_the_same_values_as_the_sections():
    keys = (("forward_flops_per_token", "flops", "forward_per_token"),
            ("training_flops_per_token", "flops", "training_per_token"),
            ("inference_bytes_per_gpu", "inference", "per_gpu"),
            ("kv_cache_bytes", "inference", "kv_cache"),
            ("inference_fits", "inference", "fits"),
            ("training_peak_bytes_per_gpu", "training_memory", "peak"),
            ("training_fits", "training_memory", "fits"),
            ("training_gpu_hours", "training", "gpu_hours"),
            ("training_cost_usd", "training", "cost_usd"))
    for slug in list_presets():
        for kw in OPTION_SETS[:2]:
            try:
                r = estimator.estimate(slug, **kw)
            except EstimatorError as e:  # RWKV-4: no engine splits it, so tp > 1 is refused
                assert e.field == "tp" and kw.get("tp", 1) > 1, (slug, kw)
                assert estimator.load_model(slug).spec.mixer.kind in ("rwkv4", "mlstm")
                continue
            d = r.sections()
            sec = {"flops": d["flops"], "inference": d["memory"]["inference"],
                   "training_memory": d["memory"]["training"], "training": d["training"]}
            want = {"total_params": d["params"]["total"], "active_params": d["params"]["active"]}
            for key, section, name in keys:
                if "not_applicable" in sec[section]:  # e.g. training tp on an attention-free model
                    want[key] = None
                    continue
                v = sec[section][name]
                want[key] = v["total"] if isinstance(v, dict) else v
            assert r.headline() == want, (slug, kw)


def test_report_to_dict_copies_what_it_shares():
    r = estimator.estimate("deepseek-v3")
    a = r.to_dict(compare=False)
    assert a["architecture"] == dataclasses.asdict(r.model.spec)
    assert a["options"] == dataclasses.asdict(r.options)
    assert list(a["options"]) == [f.name for f in dataclasses.fields(r.options)]
    a["architecture"]["mla"]["kv_lora_rank"] = -1
    a["architecture"]["hidden_size"] = -1
    b = r.to_dict(compare=False)
    assert b["architecture"] == dataclasses.asdict(r.model.spec)
    # specs equal but for their notes share counts, not the notes they print
    other = r.model.spec.replace(notes=("another note",))
    assert report._architecture_dict(other)["notes"] == ("another note",)


def test_dense_equivalents_are_fresh_lists():
    s = estimator.load_model("mixtral-8x7b").spec
    first = estimator.dense_equivalents(s)
    first.clear()
    assert len(estimator.dense_equivalents(s)) == 2


def test_spec_hash_is_the_hash_of_the_compared_fields():
    s = estimator.load_model("qwen3-30b-a3b").spec
    compared = tuple(getattr(s, f.name) for f in dataclasses.fields(s) if f.compare)
    assert hash(s) == hash(compared)
    t = s.replace(notes=("x",))
    assert t == s and hash(t) == hash(s)
    u = s.replace(num_experts_per_tok=s.num_experts_per_tok + 1)
    assert u != s and hash(u) == hash(tuple(getattr(u, f.name) for f in dataclasses.fields(u)
                                            if f.compare))


@pytest.mark.parametrize("cls", [memory.StageMemory, memory.InferenceMemory, serving.DecodePoint,
                                 serving.ServingReport, training.ParallelPlan,
                                 training.BytesPerParam, training.StageMemory,
                                 training.TrainingMemory, training.TrainingCompute, report.Report])
def test_direct_init_builds_the_same_frozen_object(cls):
    r = estimator.estimate("deepseek-v3", pp=2, tp=2, ep=4, num_gpus=16)
    found = {type(o): o for o in (r, r.inference, r.inference.stages[0], r.serving,
                                   r.serving.decode[0], r.training, r.training_memory,
                                   r.training_memory.plan, r.training_memory.bpp,
                                   r.training_memory.worst)}
    obj = found[cls]
    kw = {f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)}
    generated = object.__new__(cls)
    cls.__init__.__wrapped__(generated, **kw)  # the __init__ @dataclass wrote
    fast = cls(*kw.values())
    assert fast == generated and fast.__dict__ == generated.__dict__
    assert list(fast.__dict__) == list(generated.__dict__)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fast, dataclasses.fields(cls)[0].name, None)
    with pytest.raises(TypeError):
        cls()


def test_flops_breakdown_total_is_the_sum_of_its_components():
    fb = flops.FlopBreakdown(*range(1, len(flops.COMPONENTS) + 1))
    assert [f.name for f in dataclasses.fields(fb)] == list(flops.COMPONENTS)
    assert fb.total == sum(fb.to_dict().values())


@pytest.mark.parametrize("slug,kw", [
    ("mixtral-8x7b", {}), ("deepseek-v3", {"seq_len": 32768, "dtype": "fp8"}),
    ("qwen3-30b-a3b", {"tp": 2, "pp": 2, "ep": 2, "num_gpus": 16}), ("llama-3-8b", {}),
])
def test_remembered_dense_rows_and_gpu_plan_equal_a_fresh_computation(slug, kw):
    """The full report reads the dense-vs-MoE rows and the GPU plan from per-workload stores
    (compare._DENSE_ROWS, report._SMALLEST_FIT): the same dicts as with the stores empty, and
    what a caller does to the dict it got changes nothing a later report reads."""
    from estimator import compare

    def fresh():
        compare._DENSE_ROWS.clear()
        report._SMALLEST_FIT.clear()
        return estimator.estimate(slug, **kw).to_dict()

    want = fresh()
    got = estimator.estimate(slug, **kw).to_dict()  # from the stores
    assert got == want
    # scribble over every shared level of what came back
    for row in got["dense_vs_moe"]["rows"]:
        row["total_params"] = -1
    got["dense_vs_moe"]["rows"].clear()
    fit = got["memory"]["inference"]["smallest_fit"]
    for row in fit["tried"]:
        row["per_gpu"] = -1
    if fit["smallest"] is not None:
        fit["smallest"]["gpus"] = -1
    fit["tried"].clear()
    again = estimator.estimate(slug, **kw).to_dict()
    assert again == want
    assert again == fresh()
    plan = again["memory"]["inference"]["smallest_fit"]
    if plan["smallest"] is not None:  # the layout chosen is the last one tried, as computed
        assert plan["smallest"] is plan["tried"][-1]


def _scribble(x) -> None:
    """Empty every dict and list inside ``x`` (what benchmarks/dump_reports.py does)."""
    for v in (x.values() if isinstance(x, dict) else x if isinstance(x, list) else ()):
        _scribble(v)
    if isinstance(x, (dict, list)):
        x.clear()


@pytest.mark.parametrize("slug,kw", [
    ("mixtral-8x7b", {}), ("deepseek-v3", {"seq_len": 32768, "dtype": "fp8", "tp": 0}),
    ("qwen3-next-80b-a3b", {"tp": 2, "pp": 2, "num_gpus": 4}),
])
def test_remembered_first_sections_equal_a_fresh_computation(slug, kw):
    """Params, FLOPs and inference memory are read from a per-workload store
    (sections._FIRST): the report is the one computed with the store empty, and emptying
    every container a report handed out changes nothing a later report reads."""
    from estimator import sections

    sections._FIRST.clear()
    want = estimator.estimate(slug, **kw).to_dict()
    got = estimator.estimate(slug, **kw).to_dict()  # from the store
    assert got == want
    _scribble(got)
    assert estimator.estimate(slug, **kw).to_dict() == want
    sections._FIRST.clear()
    assert estimator.estimate(slug, **kw).to_dict() == want

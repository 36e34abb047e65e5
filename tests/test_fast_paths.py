"""The report's fast paths give exactly what the full sections give.

The dense-vs-MoE rows (:func:`estimator.sections.headline_row`) and the GPU plan
(:func:`estimator.memory.smallest_fit`) compute only the figures they show; the reference here
is the full path they replaced — every section computed (:func:`estimator.sections.compute`,
itself checked against transformers, FlopCounterMode and measurements elsewhere) and, for the
plan, :func:`estimator.memory.compute` on options rebuilt per rung. Random configs of every
family, random options; equality is exact (the same integers and floats), errors included.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

import estimator
from estimator import memory, sections
from estimator.compare import dense_equivalents
from estimator.errors import EstimatorError
from estimator.hardware import get_gpu

sys.path.insert(0, str(Path(__file__).parent))
from family_configs import GENERATORS  # noqa: E402


def _random_options(rng: random.Random) -> estimator.Options:
    return estimator.make_options(
        batch=rng.choice([1, 3, 8, 64]), seq_len=rng.choice([1, 17, 512, 4096, 100_000]),
        dtype=rng.choice(["bf16", "fp8", "int4", "mxfp4", "fp32"]),
        kv_dtype=rng.choice(["auto", "fp8"]), tp=rng.choice([1, 1, 2, 4]),
        pp=rng.choice([1, 1, 2]), ep=rng.choice([1, 1, 2, 4]),
        gpu=rng.choice(["h100-sxm", "rtx-4090", "a100-40gb"]),
        zero=rng.choice([0, 3]), recompute=rng.choice(["none", "full"]),
        micro_batch=rng.choice([1, 2]), num_gpus=rng.choice([8, 16]),
        attention_flops=rng.choice(["full", "causal"]),
        max_num_batched_tokens=rng.choice([0, 0, 2048]),
        active_convention=rng.choice(["publisher", "non_embedding"]),
        price_per_gpu_hour=rng.choice([0.0, 2.5]))


def _slow_row(m, o, gpu) -> dict:
    sc = sections.compute(m, o, gpu)
    return {**sections.headline(*sc[:5]), **sections.speed(sc.serving, o.batch)}


def _slow_smallest_fit(m, o, gpu) -> dict:
    """smallest_fit as it was: memory.compute on options rebuilt for every rung."""
    s = m.spec
    tried, found = [], None
    for tp, pp in memory.FIT_LADDER:
        ep = memory.fit_ep(s, tp, o.ep)
        try:
            r = memory.compute(m, o.replace(tp=tp, pp=pp, ep=ep), gpu)
        except EstimatorError as e:
            tried.append({"gpus": tp * pp, "tp": tp, "pp": pp, "ep": ep, "error": str(e)})
            continue
        row = {"gpus": r.lay.gpus, "tp": tp, "pp": pp, "ep": ep, "per_gpu": r.per_gpu.total,
               "fits": r.fits}
        tried.append(row)
        if r.fits:
            found = row
            break
    return {"smallest": found, "tried": tried}


def _outcome(fn, *args):
    try:
        return fn(*args)
    except EstimatorError as e:
        return ("error", str(e))


def _models(rng: random.Random):
    for model_type, gen in sorted(GENERATORS.items()):
        cfg = {"model_type": model_type, **gen(rng)}
        try:
            m = estimator.load_model(cfg)
        except EstimatorError:
            continue
        yield m
        for eq in (dense_equivalents(m.spec) if m.spec.is_moe else []):
            yield estimator.Model(spec=eq.spec, display_name=eq.spec.name, origin="dense")
    for preset in ("mixtral-8x7b", "deepseek-v3", "gpt-oss-20b", "qwen3-30b-a3b"):
        yield estimator.load_model(preset)


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_dense_rows_and_gpu_plan_equal_the_full_sections(seed):
    rng = random.Random(seed)
    n = 0
    for m in _models(rng):
        o = _random_options(rng)
        gpu = get_gpu(o.gpu)
        assert _outcome(sections.headline_row, m, o, gpu) == _outcome(_slow_row, m, o, gpu), \
            (m.spec.name, o)
        fast = _outcome(memory.smallest_fit, m, o, gpu)
        slow = _outcome(_slow_smallest_fit, m, o, gpu)
        if isinstance(fast, dict):
            fast = {"smallest": fast["smallest"], "tried": fast["tried"]}
        assert fast == slow, (m.spec.name, o)
        n += 1
    assert n > 50


def _slow_resolve(m, o, gpu):
    """autolayout's search as it was: a whole memory.compute per candidate, on options rebuilt
    (and re-validated) per candidate."""
    from estimator import autolayout

    tried, chosen, last_ok = [], None, None
    for _gpus, t, p, e in autolayout.candidates(m.spec, o.tp, o.pp, o.ep):
        try:
            r = memory.compute(m, o.replace(tp=t, pp=p, ep=e), gpu)
        except EstimatorError as err:
            tried.append(str(err))
            continue
        eng = r.engine  # the engine must start and run the batch at once
        no_pool = eng.engine == "sglang" and eng.page_size == 0
        holds = no_pool or (eng.available_kv > 0
                            and eng.max_concurrency >= -(-o.batch // r.lay.dp_attn))
        row = {"gpus": r.lay.gpus, "tp": t, "pp": p, "ep": e, "fits": r.fits and holds}
        tried.append(row)
        last_ok = row
        if row["fits"]:
            chosen = row
            break
    if chosen is None and last_ok is None:
        return ("error", "no layout")
    pick = chosen or last_ok
    return (o.replace(tp=pick["tp"], pp=pick["pp"], ep=pick["ep"]),
            {k: pick[k] for k in ("tp", "pp", "ep", "gpus", "fits")}, len(tried))


def _auto(rng: random.Random, o: estimator.Options) -> estimator.Options:
    """``o`` with some of tp/pp/ep left to the automatic layout (0)."""
    return o.replace(**{k: 0 for k in ("tp", "pp", "ep") if rng.random() < 0.6})


@pytest.mark.parametrize("seed", [0, 1])
def test_auto_layout_search_equals_the_full_memory_search(seed):
    from estimator import autolayout

    rng = random.Random(seed)
    for m in _models(rng):
        o = _auto(rng, _random_options(rng))
        gpu = get_gpu(o.gpu)
        slow = _slow_resolve(m, o, gpu)
        try:
            opts, info = autolayout._resolve(m, o, gpu)
        except EstimatorError:
            assert slow[0] == "error", (m.spec.name, o)
            continue
        assert opts == slow[0] and type(opts) is estimator.Options, (m.spec.name, o)
        assert {k: info[k] for k in slow[1]} == slow[1] and info["tried"] == slow[2]


def test_with_layout_equals_replace_and_checks_the_new_values():
    from estimator.autolayout import with_layout

    o = estimator.make_options(seq_len=777, dtype="fp8", tp=0, pp=0, ep=0)
    for t, p, e in ((1, 1, 1), (2, 4, 16), (8, 16, 128)):
        fast = with_layout(o, t, p, e)
        assert fast == o.replace(tp=t, pp=p, ep=e) and hash(fast) == hash(o.replace(tp=t, pp=p,
                                                                                   ep=e))
        slow = o.replace(tp=t, pp=p, ep=e)
        assert fast.__dict__.keys() - {"_hash"} == slow.__dict__.keys() - {"_hash"}
        assert all(fast.__dict__[k] == v for k, v in slow.__dict__.items() if k != "_hash")
    for bad in ((-1, 1, 1), (1, 1.5, 1), (1, 1, True)):
        with pytest.raises(EstimatorError):
            with_layout(o, *bad)


def _section_dicts(r, order) -> dict:
    out = {}
    for name in order:
        v = getattr(r, name)
        out[name] = v.to_dict() if v is not None else None
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_deferred_sections_equal_the_eager_sections(seed):
    """estimate() computes training and serving on their first read: the same figures as
    every section computed at once (sections.compute), whichever section is read first; and
    the options it cannot be estimated under still raise at estimate() time."""
    rng = random.Random(seed)
    names = ["params", "flops", "inference", "training_memory", "training", "serving"]
    n = 0
    for m in _models(rng):
        o = _auto(rng, _random_options(rng))
        gpu = get_gpu(o.gpu)
        eager = _outcome(sections.compute, m, o, gpu)
        r = _outcome(lambda m=m, o=o: estimator.estimate(m, options=o))
        if isinstance(eager, tuple) and eager and eager[0] == "error":
            assert r == eager, (m.spec.name, o)
            continue
        rng.shuffle(names)
        assert _section_dicts(r, names) == {k: (v.to_dict() if v is not None else None)
                                            for k, v in eager._asdict().items()
                                            if k in names}, (m.spec.name, o)
        assert "_deferred" not in r.__dict__  # every section read: nothing left pending
        n += 1
    assert n > 30


@pytest.mark.parametrize("kw", [{"pp": 1000}, {"tp": 3}])
def test_no_valid_layout_names_each_reason_once(kw):
    """Every candidate fails for the same reason (pp above Mixtral's 32 layers whatever tp;
    tp=3 dividing none of its 32 heads): the error says it once, not once per candidate."""
    with pytest.raises(EstimatorError) as err:
        estimator.estimate("mixtral-8x7b", **kw)
    msg = str(err.value)
    assert "no tensor/pipeline/expert-parallel layout is valid" in msg
    reasons = msg.split("valid for this model: ", 1)[1].split("; ")
    assert len(reasons) == len(set(reasons)) == 1, msg
    field = next(iter(kw))
    assert reasons[0].startswith(f"{field}={kw[field]}:"), msg

"""Vectorized sweeps give the scalar ``estimate()``'s rows, point for point.

The reference for every row is ``estimate()`` on the model with the point's values written into
its config.json dict (as a user would edit the file), under the point's options:
``Report.headline()``. Random tiny configs of every family (tests/family_configs.py), random
grids over experts, top-k, expert and dense widths, batch and context, and random option sets.
Integers must be equal; floats equal within a relative 1e-12 (the stated precision of the
float64 evaluation; in practice they are bit-identical).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

import estimator
from estimator.errors import EstimatorError
from estimator.sweep import SWEEP_LAYOUT

sys.path.insert(0, str(Path(__file__).parent))
from family_configs import GENERATORS  # noqa: E402

SWEEP = sys.modules["estimator.sweep"]  # the package exports the function under the same name

#: config.json keys that carry each varied quantity, by family (first present wins)
KEYS = {
    "experts": ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"),
    "top_k": ("num_experts_per_tok", "experts_per_token", "moe_top_k", "top_k"),
    "expert_width": ("moe_intermediate_size", "expert_intermediate_size"),
    "width": ("intermediate_size",),
}


def _key(cfg: dict, what: str) -> str | None:
    return next((k for k in KEYS[what] if isinstance(cfg.get(k), int)), None)


def _options(rng: random.Random) -> dict:
    return dict(dtype=rng.choice(["bf16", "fp8", "int4", "mxfp4"]),
                tp=rng.choice([1, 2]), ep=rng.choice([1, 2]), pp=rng.choice([1, 2]),
                zero=rng.choice([0, 1, 3]), recompute=rng.choice(["none", "selective", "full"]),
                micro_batch=rng.choice([1, 2]), kv_dtype=rng.choice(["auto", "fp8"]),
                gpu=rng.choice(["h100-sxm", "rtx-4090"]),
                train_tokens=rng.choice([1e9, 1e18]),
                activation_framework=rng.choice(["megatron", "pytorch_eager"]))


def _grid(rng: random.Random, cfg: dict) -> dict:
    grid = {}
    if (k := _key(cfg, "experts")):
        E = cfg[k]
        grid[k] = sorted({E, E + 1, 2 * E, max(1, E - 1)})
    if (k := _key(cfg, "top_k")):
        grid[k] = sorted({1, cfg[k], cfg[k] + 1})
    if (k := _key(cfg, "expert_width")) and rng.random() < 0.5:
        grid[k] = [cfg[k], cfg[k] + 7]
    if (k := _key(cfg, "width")) and rng.random() < 0.5:
        grid[k] = [cfg[k], 2 * cfg[k]]
    grid["batch"] = rng.choice([[1, 3], [2], [1, 5, 64]])
    grid["seq_len"] = rng.choice([[7], [5, 33], [1, 4096]])
    return grid


def _reference(cfg: dict, point: dict, options: dict) -> dict:
    arch = {k: v for k, v in point.items() if k not in ("batch", "seq_len")}
    # a sweep keeps one layout for every point (sweep.SWEEP_LAYOUT unless the options set one)
    opts = {**SWEEP_LAYOUT, **options,
            **{k: v for k, v in point.items() if k in ("batch", "seq_len")}}
    try:
        r = estimator.estimate(estimator.load_model({**cfg, **arch}), **opts)
    except EstimatorError as e:
        return {"error": str(e)}
    return {**r.headline(), "error": ""}


def _same(row: dict, ref: dict) -> bool:
    if bool(row["error"]) != bool(ref["error"]):
        return False
    if ref["error"]:
        return True  # the messages name the same field; the wording comes from one place
    for c, want in ref.items():
        got = row[c]
        if isinstance(want, float) and not isinstance(want, bool):
            if not isinstance(got, float) or abs(got - want) > 1e-12 * abs(want):
                return False
        elif got != want or type(got) is not type(want):
            return False
    return True


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorized_rows_equal_scalar_estimate_for_every_family(seed):
    rng = random.Random(seed)
    checked = vectorized = 0
    for model_type, gen in sorted(GENERATORS.items()):
        cfg = {"model_type": model_type, **gen(rng)}
        try:
            estimator.load_model(cfg)
        except EstimatorError:
            continue
        grid, options = _grid(rng, cfg), _options(rng)
        rows = estimator.sweep(cfg, grid, **options)
        vectorized += len(SWEEP._vector_fields(estimator.load_model(cfg),
                                               estimator.make_options(**options), grid,
                                               list(grid), {f: SWEEP._classify(
                                                   estimator.load_model(cfg), f)
                                                   for f in grid})) > 0
        for row in rng.sample(rows, min(6, len(rows))):
            point = {k: row[k] for k in grid}
            assert _same(row, _reference(cfg, point, options)), (model_type, point, options,
                                                                  row)
            checked += 1
    print(checked, vectorized)
    assert checked > 150 and vectorized > 40


def test_presets_with_their_own_rules_match_too():
    """Presets whose importers derive widths (DeepSeek's shared experts from the expert width,
    Qwen2-MoE's shared expert, gpt-oss's MXFP4 experts), at large sizes where int64 products
    overflow (training FLOPs × 1e18 tokens): the float64 path takes over, within 1e-12."""
    cases = [("deepseek-v3", {"n_routed_experts": [64, 256], "moe_intermediate_size": [1024, 2048],
                              "batch": [1, 4096]}, dict(tp=8, pp=2, ep=8, train_tokens=1e18)),
             ("qwen1.5-moe-a2.7b", {"num_experts": [30, 60], "moe_intermediate_size": [100, 1408],
                                    "seq_len": [1, 100_000_000]}, dict(batch=1_000_000)),
             ("gpt-oss-20b", {"num_local_experts": [16, 32], "experts_per_token": [1, 4],
                              "mfu": [0.1, 0.5], "price_per_gpu_hour": [0.0, 3.0]},
              dict(dtype="mxfp4"))]
    for slug, grid, options in cases:
        m = estimator.load_model(slug)
        rows = estimator.sweep(m, grid, **options)
        for row in rows:
            point = {k: row[k] for k in grid}
            arch = {k: v for k, v in point.items() if k not in estimator.options.OPTION_FIELDS}
            opts = {**options, **{k: v for k, v in point.items() if k not in arch}}
            cfg = dict(m.hf_config)
            ref = _reference(cfg, arch, opts)
            assert _same(row, ref), (slug, point)


def test_columns_stream_in_bounded_chunks_and_number_rows_like_sweep():
    grid = {"num_local_experts": [8, 16, 32], "num_experts_per_tok": [1, 2, 9], "batch": [1, 8]}
    rows = estimator.sweep("mixtral-8x7b", grid)
    chunks = list(SWEEP.columns("mixtral-8x7b", grid, chunk=5))
    assert all(len(c["index"]) <= 5 for c in chunks)
    seen = set()
    for c in chunks:
        for k, i in enumerate(c["index"].tolist()):
            seen.add(i)
            row = rows[i]
            assert c["error"][k] == row["error"]
            assert row["num_experts_per_tok"] == c["num_experts_per_tok"][k]
            if not row["error"]:
                assert c["total_params"][k] == row["total_params"]
                assert c["training_cost_usd"][k] == row["training_cost_usd"]
    assert seen == set(range(len(rows)))
    assert {c["batch"].dtype.name for c in chunks} == {"int64"}  # grid values typed per field
    mixed = next(SWEEP.columns("mixtral-8x7b", {"dtype": ["bf16", "fp8"], "mfu": [0.3, 1]}))
    assert (mixed["dtype"].dtype.name, mixed["mfu"].dtype.name) == ("object", "float64")


def test_grids_above_the_cap_are_refused_before_any_work():
    grid = {"num_local_experts": list(range(1, 10_001)), "num_experts_per_tok": list(range(1, 11)),
            "batch": list(range(1, 101))}
    with pytest.raises(EstimatorError) as e:
        next(SWEEP.columns("mixtral-8x7b", grid))
    assert e.value.field == "grid" and "limit" in str(e.value)
    with pytest.raises(EstimatorError) as e:
        estimator.sweep("mixtral-8x7b", {"batch": list(range(1, 10_001)),
                                         "seq_len": list(range(1, 12))})
    assert e.value.field == "grid"


def test_speed_columns_equal_the_report_serving_figures():
    """``columns(speed=True)``: prefill seconds and decode tokens/s at the batch equal the
    report's serving section (``estimate().serving``) on the edited config."""
    m = estimator.load_model("qwen3-30b-a3b")
    grid = {"num_experts": [32, 128], "num_experts_per_tok": [2, 8], "batch": [1, 3, 300]}
    (chunk,) = list(SWEEP.columns(m, grid, speed=True, tp=2))
    for k in range(len(chunk["index"])):
        point = {f: chunk[f][k].item() for f in grid}
        cfg = {**m.hf_config, "num_experts": point["num_experts"],
               "num_experts_per_tok": point["num_experts_per_tok"]}
        r = estimator.estimate(estimator.load_model(cfg), batch=point["batch"], tp=2,
                               pp=1, ep=1)
        dec = next(p for p in r.serving.decode if p.batch == point["batch"])
        for got, want in ((chunk["prefill_seconds"][k], r.serving.prefill_s),
                          (chunk["decode_tokens_per_s"][k], dec.tokens_per_s)):
            assert abs(got - want) <= 1e-12 * want, (point, got, want)


def test_pareto_front_equals_the_definition():
    """The staircase search against the definition, pair by pair, on random integer points
    (many ties and duplicates)."""
    np = pytest.importorskip("numpy")
    from estimator.vector import pareto_front

    rng = np.random.default_rng(0)
    for n in (1, 2, 50, 400):
        a, b, c = (rng.integers(0, 12, n) for _ in range(3))
        p = np.stack([a, b, -c], axis=1)
        le = (p[None, :, :] <= p[:, None, :]).all(axis=2)
        lt = (p[None, :, :] < p[:, None, :]).any(axis=2)
        assert (pareto_front(a, b, c) == ~(le & lt).any(axis=1)).all(), n

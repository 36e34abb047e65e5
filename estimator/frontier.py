"""Serving search above the report: a table of latency and throughput by concurrency, and the
Pareto frontier of tokens/s per GPU against tokens/s per user over layouts and batch sizes, with
SLO filters (TTFT, TPOT). Each point is one ``estimate()`` (its ``serving.latency`` section);
nothing here is computed inside ``estimate()``."""

from __future__ import annotations

from typing import Any

from .autolayout import candidates
from .errors import EstimatorError
from .options import make_options
from .presets import load_model

#: Concurrencies of the serving table and the frontier search.
CONCURRENCIES = (1, 4, 16, 64, 256)
#: Layouts the frontier looks at: the candidates of the auto layout up to this many GPUs.
FRONTIER_MAX_GPUS = 64
FRONTIER_MAX_LAYOUTS = 12


def _row(r, conc: int) -> dict[str, Any]:
    lat = r.serving.latency
    inf = r.inference
    return {"concurrency": conc, "gpus": lat["gpus"], "tp": inf.lay.tp, "pp": inf.lay.pp,
            "ep": inf.lay.ep, "fits": inf.fits, "ttft_s": lat["ttft_s"], "tpot_s": lat["tpot_s"],
            "tokens_per_s_per_user": lat["tokens_per_s_per_user"],
            "tokens_per_s_per_gpu": lat["tokens_per_s_per_gpu"],
            "comm_share": lat["decode_step"]["comm_s"] / lat["decode_step"]["step_s"],
            "kv_capacity_tokens": inf.engine.kv_capacity_tokens if inf.engine else None,
            "max_concurrency": inf.engine.max_concurrency if inf.engine else None,
            "cost_per_million_tokens_usd": lat["cost_per_million_tokens_usd"]}


#: Concurrencies one table or frontier may ask for (each is an estimate per layout).
MAX_CONCURRENCIES = 32


def _concurrencies(values: Any) -> tuple[int, ...]:
    """``concurrencies`` checked before any estimate runs: a non-empty list of at most
    :data:`MAX_CONCURRENCIES` whole numbers (each then checked as the ``concurrency`` option)."""
    if (not isinstance(values, (list, tuple)) or not values
            or len(values) > MAX_CONCURRENCIES):
        raise EstimatorError("concurrencies", values, "must be a list of 1 to "
                             f"{MAX_CONCURRENCIES} whole numbers")
    for c in values:
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise EstimatorError("concurrencies", c, "each must be a whole number >= 1")
        make_options(concurrency=c)  # the option's own bound
    return tuple(values)


def _slo(name: str, value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0 <= value < float("inf")):
        raise EstimatorError(name, value, "must be a finite number of seconds >= 0 (0 = none)")
    return float(value)


def serving_table(model, concurrencies=CONCURRENCIES, **options) -> list[dict[str, Any]]:
    """One row per concurrency at the layout the options give (auto by default)."""
    from .report import estimate

    concurrencies = _concurrencies(concurrencies)
    m = load_model(model)
    return [_row(estimate(m, **{**options, "concurrency": c}), c) for c in concurrencies]


def pareto(model, concurrencies=CONCURRENCIES, ttft_slo_s: float = 0.0, tpot_slo_s: float = 0.0,
           max_gpus: int = FRONTIER_MAX_GPUS, **options) -> dict[str, Any]:
    """Points (layout × concurrency) that fit, meet the SLOs (0 = none), and are not dominated
    in (tokens/s per GPU, tokens/s per user). Layouts: the auto-layout candidates up to
    ``max_gpus`` GPUs that hold the workload (at most :data:`FRONTIER_MAX_LAYOUTS`)."""
    from .report import estimate

    concurrencies = _concurrencies(concurrencies)
    ttft_slo_s, tpot_slo_s = _slo("ttft_slo", ttft_slo_s), _slo("tpot_slo", tpot_slo_s)
    if isinstance(max_gpus, bool) or not isinstance(max_gpus, int) or max_gpus < 1:
        raise EstimatorError("max_gpus", max_gpus, "must be a whole number >= 1")
    m = load_model(model)
    points, layouts = [], 0
    for gpus, tp, pp, ep in candidates(m.spec, 0, 0, 0):
        if gpus > max_gpus or layouts >= FRONTIER_MAX_LAYOUTS:
            break
        try:
            first = estimate(m, **{**options, "tp": tp, "pp": pp, "ep": ep,
                                   "concurrency": concurrencies[0]})
        except EstimatorError:
            continue
        if not first.inference.fits:
            continue
        layouts += 1
        for c in concurrencies:
            r = first if c == concurrencies[0] else estimate(
                m, **{**options, "tp": tp, "pp": pp, "ep": ep, "concurrency": c})
            if c > r.inference.max_batch:
                continue
            points.append(_row(r, c))
    ok = [p for p in points
          if (not ttft_slo_s or p["ttft_s"] <= ttft_slo_s)
          and (not tpot_slo_s or p["tpot_s"] <= tpot_slo_s)]
    front = [p for p in ok if not any(
        q["tokens_per_s_per_gpu"] >= p["tokens_per_s_per_gpu"]
        and q["tokens_per_s_per_user"] >= p["tokens_per_s_per_user"]
        and (q["tokens_per_s_per_gpu"], q["tokens_per_s_per_user"])
        != (p["tokens_per_s_per_gpu"], p["tokens_per_s_per_user"]) for q in ok)]
    front.sort(key=lambda p: p["tokens_per_s_per_user"])
    return {"points": points, "meets_slo": ok, "frontier": front,
            "ttft_slo_s": ttft_slo_s, "tpot_slo_s": tpot_slo_s,
            "method": "each point one estimate() at that layout and concurrency (serving.latency);"
                      " kept when it fits and meets the SLOs; frontier = not dominated in "
                      "(tokens/s per GPU, tokens/s per user)"}


COLUMNS = ("concurrency", "gpus", "tp", "pp", "ep", "ttft_s", "tpot_s", "tokens_per_s_per_user",
           "tokens_per_s_per_gpu", "comm_share", "cost_per_million_tokens_usd")


def render_md(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`serving_table` / :func:`pareto` rows (times in ms)."""
    head = ("| concurrency | GPUs | tp | pp | ep | TTFT (ms) | TPOT (ms) | tok/s/user | "
            "tok/s/GPU | comm share | $ / M tokens |")
    out = [head, "|" + "---:|" * 11]
    for r in rows:
        cost = r["cost_per_million_tokens_usd"]
        out.append(f"| {r['concurrency']} | {r['gpus']} | {r['tp']} | {r['pp']} | {r['ep']} | "
                   f"{r['ttft_s'] * 1e3:.1f} | {r['tpot_s'] * 1e3:.2f} | "
                   f"{r['tokens_per_s_per_user']:.1f} | {r['tokens_per_s_per_gpu']:.1f} | "
                   f"{r['comm_share']:.0%} | {cost:.2f} |" if cost is not None else "")
    return "\n".join(out) + "\n"


__all__ = ["COLUMNS", "pareto", "render_md", "serving_table"]

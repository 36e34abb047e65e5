"""Rows of the distributed validation: the estimator beside each rank's raw measurement.

Torch-free, like :func:`estimator.validation.gpu.render_memory`: :mod:`.distributed` records
what every rank measured (``docs/validation/raw/distributed-cpu-raw.json``); :func:`render`
puts the figure of the same ``estimate()`` the CLI uses, with the layout's options
(:meth:`~.dist_layouts.DistLayout.options`), beside each one. ``tests/test_distributed.py``
re-renders the committed raw file with the current estimator, so a change that breaks the
agreement fails CI on any machine.

Rows (one per layout, rank and quantity):

* training: ``parameters``, ``gradients``, ``optimizer states`` (AdamW moments; the scalar step
  counters are left out as in the single-process validation) — exact; ``training-step peak``
  (MemTracker's tensor peak against ``StageMemory.peak`` of the rank's pipeline stage) — 2%;
* decode (tp/ep/pp): ``weights`` and ``KV cache`` of the rank's stage — exact;
* collectives: measured payload bytes per operation, for the training step and the decode step.
  Their estimate column is empty until the communication model of issue #12
  (``estimator.comm.training_step_volumes``) is merged: "pending #12 comm model".
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import EstimatorError
from ..hf import spec_from_hf_config
from ..report import estimate
from .dist_layouts import LAYOUTS, DistLayout

SCHEMA = "moe-estimator/distributed/1"
BARS = {"exact": 0.0, "2%": 0.02}
PENDING_COMM = "pending #12 comm model"
REGENERATE = ("python -m estimator validate --distributed "
              "--raw-output docs/validation/raw/distributed-cpu-raw.json && "
              "python -m estimator.validation.dist_render "
              "docs/validation/raw/distributed-cpu-raw.json --out docs/validation")

#: Residuals of the peak rows that the estimator does not model, by layout, and why. A peak row
#: outside its bar must have its reason here (tests/test_distributed.py).
PEAK_NOTES: dict[str, str] = {}


def row(layout: str, rank: int, quantity: str, estimate_: int | None, measured: int, bar: str,
        note: str = "", unit: str = "bytes") -> dict[str, Any]:
    """One comparison; ``rel_error = (estimate − measured) / measured``; ``passed`` against the
    bar (exact: equal integers). ``bar`` "measured only" rows have no estimate."""
    if estimate_ is None:
        return {"layout": layout, "rank": rank, "quantity": quantity, "unit": unit,
                "estimate": None, "measured": measured, "rel_error": None, "bar": bar,
                "passed": None, "note": note}
    rel = (estimate_ - measured) / measured if measured else (
        0.0 if estimate_ == measured else float("inf"))
    passed = estimate_ == measured if bar == "exact" else abs(rel) <= BARS[bar]
    return {"layout": layout, "rank": rank, "quantity": quantity, "unit": unit,
            "estimate": estimate_, "measured": measured, "rel_error": rel, "bar": bar,
            "passed": bool(passed), "note": note}


def stage_of(layout: DistLayout, rank: int) -> int:
    """Pipeline stage of ``rank`` (stages are the outermost rank dimension)."""
    return rank // (layout.world // layout.pp)


def _training_rows(name: str, layout: DistLayout, spec, w: dict, ranks: list[dict]) -> list:
    r = estimate(spec, **layout.options(w))
    tm = r.training_memory
    if not hasattr(tm, "stages"):
        raise EstimatorError("layout", name, f"the estimator refuses it: {tm}")
    rows = []
    for rec in ranks:
        rank, m = rec["rank"], rec["training"]
        st = tm.stages[stage_of(layout, rank)]
        s = m["states"]
        rows.append(row(name, rank, "parameters", st.states["weights"]
                        + st.states["master_weights"], s["parameters"], "exact"))
        rows.append(row(name, rank, "gradients", st.states["gradients"], s["gradients"],
                        "exact"))
        rows.append(row(name, rank, "optimizer states", st.states["optimizer"],
                        s["optimizer_moments"], "exact",
                        "AdamW exp_avg + exp_avg_sq (scalar step counters not included)"))
        note = PEAK_NOTES.get(name, "")
        explained = None
        if "expert_copies_received" in m:
            got = m["expert_copies_received"]
            uniform, per_copy = _receiver_bytes_per_copy(tm, spec, w)
            explained = st.peak + sum(g - uniform for g in got) * per_copy
            note = (note + "; " if note else "") + (
                "routing: this rank's experts received " + ", ".join(str(g) for g in got)
                + f" token copies per MoE layer, the estimate assumes {uniform} (uniform "
                f"routing); with the received counts ({per_copy:,} B per copy: expert input, "
                f"gate/up, activation) the estimate is {explained:,} B "
                f"({100 * (explained - m['peak']) / m['peak']:+.2f}%)")
        r_ = row(name, rank, "training-step peak", st.peak, m["peak"], "2%",
                 note or f"measured peak during the {m['peak_phase']}")
        if explained is not None:
            r_["explained_estimate"] = explained
        rows.append(r_)
    return rows


def _receiver_bytes_per_copy(tm, spec, w: dict) -> tuple[int, int]:
    """(token copies a rank's experts receive per MoE layer under uniform routing, bytes the
    estimate's MoE layer keeps per received copy): the ``expert_*`` terms of
    ``activation_breakdown`` except ``expert_output`` (which lives on the sending rank, after
    the combine)."""
    terms = tm.breakdown["moe_layer"]
    uniform = w["micro_batch"] * w["seq_len"] * spec.num_experts_per_tok
    recv = sum(v for k, v in terms.items() if k.startswith("expert_") and k != "expert_output")
    return uniform, recv // uniform


def _decode_rows(name: str, layout: DistLayout, spec, w: dict, ranks: list[dict]) -> list:
    inf = estimate(spec, **layout.decode_options(w)).inference
    rows = []
    for rec in ranks:
        if "decode" not in rec:
            continue
        rank, m = rec["rank"], rec["decode"]
        st = inf.stages[stage_of(layout, rank)]
        rows.append(row(name, rank, "decode: weights", st.weights_total, m["weights"],
                        "exact"))
        rows.append(row(name, rank, "decode: KV cache", st.kv_cache, m["kv_cache"], "exact",
                        f"{m['sequences']} sequences on this rank"))
    return rows


def _comm_rows(name: str, ranks: list[dict]) -> list:
    rows = []
    for rec in ranks:
        for phase, key in (("training step", "training"), ("decode step", "decode")):
            coll = (rec.get(key) or {}).get("collectives", {})
            for op, c in sorted(coll.items()):
                rows.append(row(name, rec["rank"], f"{phase}: {op} payload", None, c["bytes"],
                                "measured only",
                                f"{c['calls']} calls over {c['group_size']} ranks; "
                                + PENDING_COMM))
    return rows


def render(raw: dict[str, Any]) -> dict[str, Any]:
    """The report (rows, summary, provenance) of a raw record from :func:`.distributed.run`."""
    spec = spec_from_hf_config(raw["config"], name=f"{raw['model']}-shrunk")
    w = raw["workload"]
    rows: list[dict] = []
    for name, rec in raw["layouts"].items():
        layout = LAYOUTS[name]
        ranks = sorted(rec["ranks"], key=lambda r: r["rank"])
        rows += _training_rows(name, layout, spec, w, ranks)
        if layout.decode:
            rows += _decode_rows(name, layout, spec, w, ranks)
    for name, rec in raw["layouts"].items():
        rows += _comm_rows(name, sorted(rec["ranks"], key=lambda r: r["rank"]))
    checked = [r for r in rows if r["passed"] is not None]
    return {
        "schema": SCHEMA, "model": raw["model"], "workload": w, "date": raw["date"],
        "torch": raw["torch"], "backend": raw["backend"], "cpu": raw.get("cpu", ""),
        "cores": raw.get("cores"),
        "elapsed_s": raw.get("elapsed_s"), "regenerate": REGENERATE,
        "layouts": {n: raw["layouts"][n]["layout"] for n in raw["layouts"]},
        "rows": rows,
        "summary": {"rows": len(checked), "passed": sum(r["passed"] for r in checked),
                    "exact_failed": sum(1 for r in checked
                                        if r["bar"] == "exact" and not r["passed"]),
                    "failed": [f"{r['layout']} rank {r['rank']} {r['quantity']}"
                               for r in checked if not r["passed"]],
                    "explained": [f"{r['layout']} rank {r['rank']} {r['quantity']}"
                                  for r in checked if not r["passed"]
                                  and r.get("explained_estimate") is not None
                                  and abs(r["explained_estimate"] - r["measured"])
                                  <= BARS[r["bar"]] * r["measured"]],
                    "measured_only": len(rows) - len(checked)},
    }


def _fmt(v: int | None) -> str:
    if v is None:
        return "—"
    return f"{v:,}" + (f" ({v / 2**20:,.2f} MiB)" if v >= 2**20 else "")


def to_markdown(rep: dict[str, Any]) -> str:
    """The report as Markdown: provenance, how to regenerate, one table."""
    s = rep["summary"]
    w = rep["workload"]
    lines = [
        "# Distributed validation (CPU): per-rank memory and collectives",
        "",
        f"date {rep['date']}; torch {rep['torch']}; backend {rep['backend']}; CPU "
        f"{rep['cpu'] or 'unknown'} ({rep.get('cores') or '?'} cores); model: {rep['model']} "
        "shrunk (the validation's reference decoder, eager kernels, fp32, AdamW). Measured in "
        f"{rep['elapsed_s']} s.",
        "",
        f"Training: {w['micro_batch']} × {w['seq_len']} tokens per rank and micro-batch, one "
        f"step after a warm-up step. Decode: {w['decode_batch']} sequences of {w['prompt']} "
        "tokens prefilled, then one token. Regenerate: `" + rep["regenerate"] + "`.",
        "",
        f"**{s['passed']} of {s['rows']} checked rows within their bar; {s['exact_failed']} "
        f"exact-bar failures; {len(s['explained'])} outside the bar explained by the "
        f"measured routing (see notes); {s['measured_only']} rows measured only.**",
        "",
        "| layout | rank | quantity | estimate | measured | error | bar | ok |",
        "|---|--:|---|--:|--:|--:|:-:|:-:|",
    ]
    notes: dict[str, int] = {}
    for r in rep["rows"]:
        mark = f" [{notes.setdefault(r['note'], len(notes) + 1)}]" if r["note"] else ""
        err = ("—" if r["rel_error"] is None else "0 (equal)" if r["estimate"] == r["measured"]
               else f"{100 * r['rel_error']:+.2f}%")
        ok = "—" if r["passed"] is None else ("✓" if r["passed"] else "✗")
        lines.append(f"| {r['layout']} | {r['rank']} | {r['quantity']}{mark} | "
                     f"{_fmt(r['estimate'])} | {_fmt(r['measured'])} | {err} | {r['bar']} | "
                     f"{ok} |")
    if notes:
        lines += ["", "Notes:", ""] + [f"{n}. {t}" for t, n in notes.items()]
    lines += ["", "Layouts:", ""]
    for n, lay in rep["layouts"].items():
        desc = ", ".join(f"{k}={v}" for k, v in lay.items() if k != "name")
        lines.append(f"- **{n}**: {desc}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os

    p = argparse.ArgumentParser(prog="python -m estimator.validation.dist_render",
                                description="Render a raw distributed-validation record.")
    p.add_argument("raw")
    p.add_argument("--out", required=True, help="folder for distributed-cpu.json and .md")
    a = p.parse_args(argv)
    with open(a.raw, encoding="utf-8") as f:
        rep = render(json.load(f))
    from ..formats import dumps_strict

    with open(os.path.join(a.out, "distributed-cpu.json"), "w", encoding="utf-8") as f:
        f.write(dumps_strict(rep, indent=1) + "\n")
    with open(os.path.join(a.out, "distributed-cpu.md"), "w", encoding="utf-8") as f:
        f.write(to_markdown(rep) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

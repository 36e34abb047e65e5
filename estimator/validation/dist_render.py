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
* collectives: measured payload bytes per operation of the training step against
  ``estimator.comm.training_step_volumes`` (exact); the decode step's are measured only.

Expert-parallel ranks route tokens as their router decides, not uniformly: their peak and
all-to-all rows give the estimate the copies each rank measured (``ep_routing``: the comm
model's :func:`estimator.comm.ep_all_to_all_payloads`; the peak: the estimate's per-copy expert
activations × the copies received), and a ``reference`` row beside each shows the uniform-routing
estimate (no bar).
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
#: A row shown for reference (the estimate under uniform routing beside a routed run): no bar.
REFERENCE = "reference"
REGENERATE = ("python -m estimator validate --distributed "
              "--raw-output docs/validation/raw/distributed-cpu-raw.json && "
              "python -m estimator.validation.dist_render "
              "docs/validation/raw/distributed-cpu-raw.json --out docs/validation")

#: Residuals of the peak rows that the estimator does not model, by layout, and why. A peak row
#: outside its bar must have its reason here (tests/test_distributed.py).
PEAK_NOTES: dict[str, str] = {
    "fsdp-dp4": "four ranks on two cores. An earlier run (2026-12-04) had one rank peak "
                "1,946,624 B above the others; not seen in 10 runs since the ranks wait for "
                "gloo's worker thread to drop each finished collective's tensors "
                "(distributed._await_backend_release), nor in 4 runs without that wait under "
                "extra CPU load; the size matches no single FSDP2 collective's buffers, so "
                "its cause is not established",
}


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
    if bar == REFERENCE:
        return {"layout": layout, "rank": rank, "quantity": quantity, "unit": unit,
                "estimate": estimate_, "measured": measured, "rel_error": rel, "bar": bar,
                "passed": None, "note": note}
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
        note = PEAK_NOTES.get(name, "") or f"measured peak during the {m['peak_phase']}"
        if "expert_copies_received" in m:
            got = m["expert_copies_received"]
            uniform, per_copy = _receiver_bytes_per_copy(tm, spec, w)
            routed = routed_peak(st.peak, got, uniform, per_copy)
            rows.append(row(name, rank, "training-step peak", routed, m["peak"], "2%",
                            "measured routing: this rank's experts received "
                            + ", ".join(str(g) for g in got) + f" token copies per MoE layer "
                            f"(uniform: {uniform}); the estimate with these counts: "
                            f"{per_copy:,} B per copy (the estimate's expert activations: "
                            "input, gate/up, activation, output)"))
            rows.append(row(name, rank, "training-step peak, uniform routing", st.peak,
                            m["peak"], REFERENCE, "the estimate's own assumption (uniform "
                            "routing), for reference"))
        else:
            rows.append(row(name, rank, "training-step peak", st.peak, m["peak"], "2%", note))
    return rows


def routed_peak(peak: int, received: list[int], uniform: int, per_copy: int) -> int:
    """The estimate's peak with the token copies a rank's experts received per MoE layer in
    place of the uniform ``uniform``: ``peak + Σ (received − uniform) · per_copy``."""
    return peak + sum(g - uniform for g in received) * per_copy


def _receiver_bytes_per_copy(tm, spec, w: dict) -> tuple[int, int]:
    """(token copies a rank's experts receive per MoE layer under uniform routing, bytes the
    estimate's MoE layer keeps per received copy): the ``expert_*`` terms of
    ``activation_breakdown`` — ``expert_output`` included, since the experts scale their
    outputs by the router probabilities on the receiving rank (Megatron sends the
    probabilities with the tokens)."""
    uniform = w["micro_batch"] * w["seq_len"] * spec.num_experts_per_tok
    if tm is None:
        return uniform, 0
    terms = tm.breakdown["moe_layer"]
    recv = sum(v for k, v in terms.items() if k.startswith("expert_"))
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


#: How a measured operation maps onto the comm model's ``Volume.op``; ``reduce`` = the flat
#: ZeRO-2's per-piece reduces (DeepSpeed stage 2's ``average_tensor``): together one
#: reduce-scatter of the gradients.
_OP_OF = {"all_reduce": "all_reduce", "all_gather": "all_gather",
          "reduce_scatter": "reduce_scatter", "reduce": "reduce_scatter",
          "all_to_all": "all_to_all", "send": "send_recv"}
#: What each layout's collectives are, in the framework's terms (the comm model counts the same).
COMM_SOURCES = {
    "tp": "Megatron TP+SP (tensor_parallel mappings.py / layers.py); MoE through "
          "MoEAlltoAllTokenDispatcher with expert-TP = TP (counts, copies and probabilities "
          "all-gathered, outputs reduce-scattered); norm and router gradients in one flat "
          "all-reduce per step (finalize_model_grads)",
    "fsdp": "FSDP2 fully_shard per layer and on the root: layer units gathered in the forward "
            "and again in the backward, the root unit (embedding, final norm, lm_head) once "
            "(not resharded after the forward)",
}


def payload(op: str, c: dict[str, int]) -> int:
    """A measured payload in the comm model's convention (:class:`estimator.comm.Volume`): an
    all-gather counts its full gathered output (the counter records each rank's shard)."""
    return c["bytes"] * (c["group_size"] if op == "all_gather" else 1)


def _comm_rows(name: str, layout: DistLayout, spec, w: dict, ranks: list[dict]) -> list:
    from ..comm import training_step_volumes
    from ..options import make_options

    opts = make_options(**layout.options(w))
    rows = []

    def totals(vols) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in vols:
            out[v.op] = out.get(v.op, 0) + v.total_payload_bytes
        return out

    for rec in ranks:
        rank = rec["rank"]
        stage = stage_of(layout, rank)
        uniform = totals(training_step_volumes(spec, opts, stage=stage))
        routing = rec["training"].get("ep_routing")
        est = (totals(training_step_volumes(spec, opts, stage=stage, ep_routing=routing))
               if routing else uniform)
        coll = rec["training"].get("collectives", {})
        for op, c in sorted(coll.items()):
            if op == "recv":
                continue  # the other end of a send: counted once, at the sender
            model_op = _OP_OF[op]
            measured = payload(op, c)
            note = f"{c['calls']} calls over {c['group_size']} ranks"
            if op == "reduce":
                note += "; one dist.reduce per (parameter, owner) piece = one reduce-scatter"
            if layout.tp > 1:
                note += "; " + COMM_SOURCES["tp"]
            elif layout.fsdp and op == "all_gather":
                note += "; " + COMM_SOURCES["fsdp"]
            if routing and uniform.get(model_op, 0) != est.get(model_op, 0):
                sent = [sum(snt) for snt, _ in routing]
                got = [sum(rcv) for _, rcv in routing]
                note += ("; measured routing: per MoE layer this rank sent "
                         + ", ".join(map(str, sent)) + " and received "
                         + ", ".join(map(str, got)) + " token copies "
                         "(comm.ep_all_to_all_payloads)")
            rows.append(row(name, rank, f"training step: {model_op} payload",
                            est.get(model_op, 0), measured, "exact", note))
            if routing and uniform.get(model_op, 0) != est.get(model_op, 0):
                rows.append(row(name, rank, f"training step: {model_op} payload, uniform "
                                "routing", uniform.get(model_op, 0), measured, REFERENCE,
                                "the comm model's uniform routing, for reference"))
        for op, c in sorted((rec.get("decode") or {}).get("collectives", {}).items()):
            rows.append(row(name, rank, f"decode step: {op} payload", None, payload(op, c),
                            "measured only", f"{c['calls']} calls over {c['group_size']} "
                            "ranks; the comm model of issue #12 covers training steps"))
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
        rows += _comm_rows(name, LAYOUTS[name], spec, w,
                           sorted(rec["ranks"], key=lambda r: r["rank"]))
    checked = [r for r in rows if r["passed"] is not None]
    mem = [r for r in checked if not is_comm(r)]
    comm = [r for r in checked if is_comm(r)]
    return {
        "schema": SCHEMA, "model": raw["model"], "workload": w, "date": raw["date"],
        "torch": raw["torch"], "backend": raw["backend"], "cpu": raw.get("cpu", ""),
        "cores": raw.get("cores"),
        "elapsed_s": raw.get("elapsed_s"), "regenerate": REGENERATE,
        "layouts": {n: raw["layouts"][n]["layout"] for n in raw["layouts"]},
        "rows": rows,
        "summary": {"rows": len(mem), "passed": sum(r["passed"] for r in mem),
                    "exact_failed": sum(1 for r in mem
                                        if r["bar"] == "exact" and not r["passed"]),
                    "failed": _labels(r for r in mem if not r["passed"]),
                    "comm_rows": len(comm), "comm_equal": sum(r["passed"] for r in comm),
                    "comm_failed": _labels(r for r in comm if not r["passed"]),
                    "reference": sum(r["bar"] == REFERENCE for r in rows),
                    "measured_only": sum(r["bar"] == "measured only" for r in rows)},
    }


def is_comm(r: dict[str, Any]) -> bool:
    return " payload" in r["quantity"]


def _labels(rows) -> list[str]:
    return [f"{r['layout']} rank {r['rank']} {r['quantity']}" for r in rows]


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
        f"**Memory: {s['passed']} of {s['rows']} rows within their bar; "
        f"{s['exact_failed']} exact-bar failures. Collectives (payload bytes per step against "
        f"`comm.training_step_volumes`): {s['comm_equal']} of {s['comm_rows']} equal"
        + (f", {len(s['comm_failed'])} differ" if s["comm_failed"] else "") + ". "
        f"Expert-parallel rows give the estimate the routing each rank measured; "
        f"{s['reference']} reference rows show the uniform-routing estimate (no bar). "
        f"{s['measured_only']} rows measured only (decode collectives).**",
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

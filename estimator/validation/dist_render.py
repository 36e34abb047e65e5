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
REGENERATE = ("python -m estimator validate --distributed "
              "--raw-output docs/validation/raw/distributed-cpu-raw.json && "
              "python -m estimator.validation.dist_render "
              "docs/validation/raw/distributed-cpu-raw.json --out docs/validation")

#: Residuals of the peak rows that the estimator does not model, by layout, and why. A peak row
#: outside its bar must have its reason here (tests/test_distributed.py).
PEAK_NOTES: dict[str, str] = {
    "fsdp-dp4": "four ranks on two cores: in some runs one rank (a different one each time) "
                "peaks 1,946,624 B higher than the others, whose peaks agree to within 5 kB "
                "and repeat exactly run after run; what that rank still holds depends on when "
                "its asynchronous FSDP2 collectives complete (not reproduced with two ranks or "
                "with this layout alone, not yet traced)",
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
    uniform = w["micro_batch"] * w["seq_len"] * spec.num_experts_per_tok
    if tm is None:
        return uniform, 0
    terms = tm.breakdown["moe_layer"]
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


#: How a measured operation maps onto the comm model's ``Volume.op``; ``reduce`` = the flat
#: ZeRO-2's per-piece reduces (DeepSpeed stage 2's ``average_tensor``): together one
#: reduce-scatter of the gradients.
_OP_OF = {"all_reduce": "all_reduce", "all_gather": "all_gather",
          "reduce_scatter": "reduce_scatter", "reduce": "reduce_scatter",
          "all_to_all": "all_to_all", "send": "send_recv"}
#: Why a layout's measured payloads differ from the comm model, where they do.
COMM_NOTES = {
    "tp2": "MoE under TP: these ranks run Megatron's allgather token dispatcher (the T·h tokens "
           "gathered once, their routing beside them; the default moe_token_dispatcher_type) "
           "while the comm model counts the alltoall dispatcher's expert-TP gather of the k "
           "routed copies (T·k·h); and sequence parallelism all-reduces the gradients of the "
           "replicated norms and router over TP (Megatron finalize_model_grads "
           "_allreduce_layernorm_grads), which the comm model leaves out",
    "fsdp": "FSDP2 does not reshard the root unit (embedding, final norm, lm_head) after the "
            "forward (FSDPState._lazy_init: 'For the root, do not reshard after forward'), so it "
            "is all-gathered once per micro-batch, not twice; the comm model (issue #12, "
            "training_step_volumes) gathers it again in the backward",
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
    for rec in ranks:
        rank = rec["rank"]
        est: dict[str, int] = {}
        for v in training_step_volumes(spec, opts, stage=stage_of(layout, rank)):
            est[v.op] = est.get(v.op, 0) + v.total_payload_bytes
        coll = rec["training"].get("collectives", {})
        got = rec["training"].get("expert_copies_received")
        for op, c in sorted(coll.items()):
            if op == "recv":
                continue  # the other end of a send: counted once, at the sender
            model_op = _OP_OF[op]
            measured = payload(op, c)
            note = f"{c['calls']} calls over {c['group_size']} ranks"
            if op == "reduce":
                note += "; one dist.reduce per (parameter, owner) piece = one reduce-scatter"
            r_ = row(name, rank, f"training step: {model_op} payload", est.get(model_op, 0),
                     measured, "exact", note)
            if not r_["passed"]:
                if op == "all_to_all" and got:
                    # the combine and the dispatch's gradient carry the copies this rank
                    # received; one E-entry int64 count exchange per MoE layer
                    uniform, _ = _receiver_bytes_per_copy(None, spec, w)
                    row_b = spec.hidden_size * 4
                    explained = (est[model_op] + 2 * sum(g - uniform for g in got) * row_b
                                 + len(got) * spec.num_experts * 8)
                    r_["explained_estimate"] = explained
                    r_["note"] += (f"; routing: the combine and the dispatch's gradient carry "
                                   f"the {sum(got)} copies this rank received (uniform "
                                   f"{uniform * len(got)}), plus a {spec.num_experts * 8}-byte "
                                   f"token-count exchange per MoE layer: {explained:,} B")
                elif layout.fsdp and model_op == "all_gather":
                    root = (spec.vocab_size * spec.hidden_size * 2 + spec.hidden_size) * 4
                    r_["explained_estimate"] = est[model_op] - root
                    r_["note"] += "; " + COMM_NOTES["fsdp"] + f": {root:,} B less"
                elif name in COMM_NOTES:
                    r_["note"] += "; " + COMM_NOTES[name]
            rows.append(r_)
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
                    "explained": _labels(r for r in mem if _explained(r)),
                    "comm_rows": len(comm), "comm_equal": sum(r["passed"] for r in comm),
                    "comm_explained": _labels(r for r in comm if _explained(r)),
                    "comm_unexplained": _labels(r for r in comm if not r["passed"]
                                                and not _explained(r)),
                    "measured_only": len(rows) - len(checked)},
    }


def is_comm(r: dict[str, Any]) -> bool:
    return r["quantity"].endswith(" payload")


def _explained(r: dict[str, Any]) -> bool:
    """Outside its bar, but within it once the named cause (measured routing, FSDP2's root
    unit) is put into the estimate (``explained_estimate``)."""
    e = r.get("explained_estimate")
    return (not r["passed"] and e is not None
            and abs(e - r["measured"]) <= BARS[r["bar"]] * r["measured"])


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
        f"{s['exact_failed']} exact-bar failures; {len(s['explained'])} outside the bar "
        "explained by the routing the rank measured (see notes). Collectives (payload bytes "
        "per step against issue #12's `comm.training_step_volumes`): "
        f"{s['comm_equal']} of {s['comm_rows']} equal, {len(s['comm_explained'])} explained to "
        f"the byte (routing, FSDP2's root unit), {len(s['comm_unexplained'])} differ by "
        f"convention (see notes). {s['measured_only']} rows measured only (decode "
        "collectives).**",
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

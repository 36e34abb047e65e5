"""Estimate: the headline for the current model, then each section of the report in a tab."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from ui import charts, fmt, views, widgets
from ui.state import require_report

ctx = require_report()
report = ctx.report
d = report.to_dict()
m, p, o = d["model"], d["params"], d["options"]
fl, mi, mt, tr, sv = (d["flops"], d["memory"]["inference"], d["memory"]["training"],
                      d["training"], d["serving"])

widgets.model_title(d, ctx.edits)

# --- headline -------------------------------------------------------------------------------
if m["is_moe"]:
    widgets.moe_headline(d)

c = st.columns(4)
c[0].metric("Total parameters", fmt.params(p["total"]), border=True,
            help=f"{p['total']:,} parameters (exact). All experts are resident in memory.")
c[1].metric("Active per token", fmt.params(p["active"]), border=True,
            delta=p["active_convention"].replace("_", " "), delta_color="off", delta_arrow="off",
            help=f"{p['active']:,} (exact), {p['active_convention'].replace('_', ' ')} — "
                 f"{p['active_convention_source']}. All three conventions are in the "
                 "Parameters tab.")
c[2].metric("Forward FLOPs / token", fmt.flops(fl.get("forward_per_token")), border=True,
            help=f"at seq_len={o['seq_len']:,}, attention convention "
                 f"'{fl.get('convention', '—')}'; 1 multiply-add = 2 FLOPs")
inf_total = views.inference_total_per_gpu(mi)
c[3].metric("Inference memory / GPU", fmt.gib(inf_total), border=True,
            delta=widgets.fits_text(mi.get("fits"), report.gpu.memory_bytes),
            delta_color="normal" if mi.get("fits") else "inverse", delta_arrow="off",
            help=f"batch={o['batch']}, seq_len={o['seq_len']:,}, weights {o['dtype']}, KV "
                 f"{mi.get('kv_dtype', o['kv_dtype'])}"
                 f"{' (auto)' if o['kv_dtype'] == 'auto' else ''}, "
                 f"tp={mi.get('parallel', {}).get('tp', o['tp'])}; GiB = 2^30 bytes")
c = st.columns(4)
c[0].metric("Training peak / GPU", fmt.gib(fmt.first(mt, "peak", "per_gpu.total")),
            border=True, delta=widgets.fits_text(mt.get("fits"), report.gpu.memory_bytes),
            delta_color="normal" if mt.get("fits") else "inverse", delta_arrow="off",
            help=f"ZeRO {o['zero']}, {o['optimizer']} ({o['adam_bytes']} B/param), recompute "
                 f"{o['recompute']}, micro_batch {o['micro_batch']}")
c[1].metric("Training FLOPs / token", fmt.flops(fl.get("training_per_token")), border=True,
            help=f"6·N_active would say {fmt.flops(fl.get('six_n_active_per_token'))}")
c[2].metric("Training time", fmt.duration(tr.get("seconds")), border=True,
            help=f"{o['train_tokens']:.3g} tokens on {o['num_gpus']} × {report.gpu.name} at "
                 f"MFU {fmt.num(tr.get('mfu')) or 0:.1%} ({tr.get('mfu_source', 'given')}; "
                 f"{fmt.count(tr.get('gpu_hours'))} GPU-hours)")
c[3].metric("Training cost", fmt.usd(tr.get("cost_usd")), border=True,
            help=f"GPU-hours × ${fmt.num(tr.get('price_per_gpu_hour'))}/GPU-hour "
                 f"({tr.get('price_source', 'price')})")

if mt.get("not_applicable"):
    st.info("Training figures are not shown for these options: "
            + widgets.md(mt["not_applicable"]),
            icon=":material/info:")

lay_choice = mi.get("layout") or {}
par = mi.get("parallel") or {}
eng = mi.get("engine") or {}
if par:
    how = ("chosen automatically: the cheapest layout that holds this workload"
           if lay_choice.get("auto") else "as set")
    kv_line = ""
    if eng:
        kv_line = (f" {eng.get('engine', 'vllm')} would report a KV cache of "
                   f"**{eng.get('kv_capacity_tokens', 0):,} tokens** per replica, "
                   f"maximum concurrency **{eng.get('max_concurrency', 0):.2f}×** at "
                   f"{eng.get('max_model_len', 0):,} tokens per request.")
    st.caption(f"Serving layout: **{mi.get('gpus')} × {report.gpu.name}**, tp={par.get('tp')}, "
               f"pp={par.get('pp')}, ep={par.get('ep')} ({how}; set tp/pp/ep to override, "
               f"0 = auto).{kv_line}")
plan = (mi.get("smallest_fit") or {}).get("smallest")
if plan:
    st.caption(f"Inference at batch {o['batch']} × {o['seq_len']:,} tokens fits on "
               f"**{plan['gpus']} × {report.gpu.name}** at the least (tp={plan['tp']}, "
               f"pp={plan['pp']}: {fmt.gib(plan['per_gpu'])} on the busiest GPU).")
elif mi.get("smallest_fit"):
    st.caption(f"Inference at batch {o['batch']} × {o['seq_len']:,} tokens does not fit on up "
               f"to 128 × {report.gpu.name} in {o['dtype']}.")

# --- parameters -----------------------------------------------------------------------------
def _parameters() -> None:
    st.plotly_chart(charts.total_vs_active(p["total"],
                                           p["active_by_convention"]["with_embedding"],
                                           p["routed_inactive_per_token"]),
                    config=widgets.PLOTLY_CONFIG)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(charts.breakdown_bar(p["breakdown"], "params",
                                             title="Parameters by component"),
                        config=widgets.PLOTLY_CONFIG)
    with right:
        st.markdown("**By component** (exact)")
        st.dataframe([{"component": fmt.label(k), "parameters": fmt.params(v, 2),
                       "exact": f"{v:,}", "share": fmt.pct(v, p["total"])}
                      for k, v in p["breakdown"].items() if v], hide_index=True)
        extra = []
        if p.get("buffers"):
            extra.append(f"checkpoint buffers (not parameters): {p['buffers']:,}")
        if p.get("mtp"):
            extra.append(f"multi-token-prediction modules (outside the main model): "
                         f"{fmt.params(p['mtp'], 2)} ({p['mtp']:,})")
        if p.get("vision"):
            extra.append(f"vision encoder and projector (outside the total, in served weights "
                         f"unless include_vision is off): {fmt.params(p['vision'], 2)} "
                         f"({p['vision']:,})")
        if p.get("embedding_tied"):
            extra.append("input embedding and LM head are tied (counted once)")
        for line in extra:
            st.caption(line)
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Active per token, by convention** — publishers differ on the embedding")
        st.dataframe([{"convention": k.replace("_", " "), "active": fmt.params(v, 2),
                       "exact": f"{v:,}", "counts": p["conventions"].get(k, "")}
                      for k, v in p["active_by_convention"].items()], hide_index=True,
                     column_config={"counts": st.column_config.TextColumn(width="large")})
    with right:
        widgets.published_check(d)


# --- inference memory -----------------------------------------------------------------------
def _inference_memory() -> None:
    parts, scope = views.inference_parts(mi)
    if not parts:
        widgets.pending("inference memory")
    else:
        left, right = st.columns([2, 3])
        with left:
            st.plotly_chart(charts.breakdown_bar(parts, "bytes",
                                                 title=f"Inference memory ({scope})"),
                            config=widgets.PLOTLY_CONFIG)
            widgets.kv_table(mi, parts)
        with right:
            xs = views.context_grid(report)
            st.plotly_chart(charts.stacked_memory(
                xs, views.memory_curve(report, "seq_len", xs),
                x_title="context length (tokens per sequence)",
                title=f"Memory vs context (batch {o['batch']})",
                capacities=views.capacity(report), marker=o["seq_len"]),
                config=widgets.PLOTLY_CONFIG)
            xs = views.batch_grid(report)
            st.plotly_chart(charts.stacked_memory(
                xs, views.memory_curve(report, "batch", xs), x_title="batch (sequences)",
                title=f"Memory vs batch (context {o['seq_len']:,})",
                capacities=views.capacity(report), marker=o["batch"]),
                config=widgets.PLOTLY_CONFIG)
        widgets.key_values(mi, skip=set(parts) | {"per_gpu"}, title="All inference-memory "
                                                                     "figures")


# --- training memory ------------------------------------------------------------------------
def _training_memory() -> None:
    tparts = views.training_parts(mt)
    if not tparts:
        widgets.pending("training memory")
    else:
        left, right = st.columns([3, 2])
        with left:
            st.plotly_chart(charts.breakdown_bar(tparts, "bytes",
                                                 title="Training memory per GPU at the peak"),
                            config=widgets.PLOTLY_CONFIG)
        with right:
            st.dataframe([{"component": fmt.label(k), "GiB": fmt.gib(v, 2), "bytes": f"{v:,.0f}"}
                          for k, v in tparts.items()], hide_index=True)
            if mt.get("peak_set_by"):
                st.caption(f"Peak set by: {mt['peak_set_by']}")
        widgets.key_values(mt, skip={"per_gpu"}, title="All training-memory figures")


# --- compute, time & cost -------------------------------------------------------------------
def _compute_cost() -> None:
    left, right = st.columns([3, 2])
    with left:
        fb = fmt.numeric_parts(fl.get("breakdown"))
        if fb:
            st.plotly_chart(charts.breakdown_bar(
                fb, "flops", title=f"Forward FLOPs by component (batch {o['batch']} × "
                                   f"{o['seq_len']:,} tokens)"),
                config=widgets.PLOTLY_CONFIG)
        else:
            widgets.pending("FLOPs")
    with right:
        st.dataframe([
            {"quantity": "forward / token", "value": fmt.flops(fl.get("forward_per_token"))},
            {"quantity": "training / token (model FLOPs)",
             "value": fmt.flops(fl.get("training_per_token"))},
            {"quantity": "training / token (hardware, incl. recompute)",
             "value": fmt.flops(fl.get("training_hardware_per_token"))},
            {"quantity": "6·N_active / token (rule of thumb)",
             "value": fmt.flops(fl.get("six_n_active_per_token"))},
            {"quantity": "training multiplier (× forward)",
             "value": fmt.sci(fl.get("training_multiplier"))},
        ], hide_index=True)
        if fl.get("convention_note"):
            st.caption(f"Attention convention '{fl.get('convention')}': "
                       f"{fl['convention_note']}")
        if fl.get("training_multiplier_explanation"):
            st.caption(fl["training_multiplier_explanation"])
    st.subheader("Training run", divider="gray")
    if not tr:
        widgets.pending("training time and cost")
        return
    c = st.columns(5)
    c[0].metric("Tokens", fmt.params(tr.get("tokens")).replace("T", " T").replace("B", " B"),
                help=f"{fmt.exact(tr.get('tokens'))} training tokens")
    c[1].metric("Model FLOPs", fmt.power10(tr.get("model_flops")),
                help=tr.get("flops_note") or None)
    c[2].metric("Time", fmt.duration(tr.get("seconds")),
                help=f"on {tr.get('num_gpus')} GPUs at MFU {tr.get('mfu')} "
                     f"({tr.get('mfu_source', 'given')}) of "
                     f"{fmt.flops(tr.get('peak_flops_per_gpu'))}/s ({tr.get('peak_basis', '')})")
    c[3].metric("GPU-hours", fmt.count(tr.get("gpu_hours")))
    c[4].metric("Cost", fmt.usd(tr.get("cost_usd")),
                help=tr.get("price_source") or None)
    ch = tr.get("chinchilla")
    if isinstance(ch, Mapping) and ch.get("note"):
        st.caption(f"Tokens per parameter: {fmt.sci(ch.get('tokens_per_param_total'))} (total) "
                   f"· {fmt.sci(ch.get('tokens_per_param_active'))} (active). {ch['note']}")
    comp = d.get("dense_vs_moe", {}).get("compute_optimal_dense")
    if comp:
        st.caption(f"For the same training compute, a Chinchilla-optimal dense model would have "
                   f"{fmt.params(comp.get('params'))} parameters trained on "
                   f"{fmt.params(comp.get('tokens'))} tokens ({comp.get('convention', '')}).")
    _step_and_plan()
    widgets.key_values(tr, title="All training figures")


def _step_and_plan() -> None:
    """The predicted optimizer step as a stacked bar, and the layout search on demand."""
    parts = tr.get("step_breakdown")
    if isinstance(parts, Mapping) and parts:
        how = ("predicted" if tr.get("mfu_source") == "predicted"
               else "at the given MFU; the bar shows the predicted step")
        st.plotly_chart(charts.step_bar(
            parts, title=f"One optimizer step: {fmt.num(tr.get('step_time_s')) or 0:.3g} s "
                         f"({how})"),
            config=widgets.PLOTLY_CONFIG)
    elif isinstance(tr.get("predicted_step"), Mapping) and tr["predicted_step"].get("error"):
        st.caption("No step-time prediction: " + widgets.md(tr["predicted_step"]["error"]))
    if not st.toggle("Best layout for my GPUs", key="plan_toggle",
                     help=f"Rank the tp/pp/ep/cp/ZeRO/recompute/micro-batch layouts of "
                          f"{o['num_gpus']} GPUs that fit, by predicted step time"):
        return
    from estimator import EstimatorError, plan

    keep = {k: o[k] for k in ("gpu", "seq_len", "dtype", "optimizer", "adam_bytes",
                              "master_weights", "activation_framework", "flash_attention",
                              "attention_flops", "capacity_factor", "moe_imbalance",
                              "train_tokens")}
    try:
        pl = plan(report.model, num_gpus=o["num_gpus"],
                  global_batch=o["micro_batch"] * o["grad_accum"]
                  * max(1, o["num_gpus"] // (o["tp"] * o["pp"] * o["cp"])), **keep)
    except EstimatorError as e:
        st.error(str(e))
        return
    if not pl.rows:
        st.warning(pl.why)
        return
    st.dataframe([{**r.layout, "dp": r.dp, "step (s)": round(r.step_time_s, 4),
                   "MFU": f"{r.mfu:.1%}", "peak / GPU": fmt.gib(r.peak_bytes_per_gpu)}
                  for r in pl.rows], hide_index=True)
    st.caption(f"{pl.tried} layouts tried for a global batch of {pl.global_batch} sequences; "
               f"{pl.not_fitting} do not fit. " + widgets.md(pl.why))


# --- serving --------------------------------------------------------------------------------
def _serving() -> None:
    dec = views.decode_rows(report)
    pre = sv.get("prefill")
    if not dec and not isinstance(pre, Mapping):
        widgets.pending("serving speed")
        return
    now = next((r for r in dec if r.get("batch") == o["batch"]), None)
    c = st.columns(4)
    if isinstance(pre, Mapping):
        c[0].metric("Prefill time (first token)", fmt.duration(pre.get("seconds")),
                    help=f"{fmt.exact(pre.get('tokens'))} prompt tokens; "
                         f"{pre.get('bound', '—')}-bound at MFU {o['mfu']}")
        c[1].metric("Prefill throughput", fmt.rate(pre.get("tokens_per_s")))
    if now is not None:
        c[2].metric(f"Decode at batch {o['batch']}", fmt.rate(now.get("tokens_per_s")),
                    help=f"{now.get('bound', '—')}-bound at MBU {o['mbu']}; "
                         f"{fmt.sci(now.get('experts_touched_per_layer'))} experts read per layer")
        c[3].metric("Decode per user", fmt.rate(now.get("tokens_per_s_per_user")))
    if dec:
        left, right = st.columns([1, 1])
        with left:
            st.plotly_chart(views.decode_figure(dec), config=widgets.PLOTLY_CONFIG)
        with right:
            st.dataframe([{
                "batch": r.get("batch"), "tok/s": fmt.rate(r.get("tokens_per_s"), ""),
                "per user": fmt.rate(r.get("tokens_per_s_per_user"), ""),
                "per GPU": fmt.rate(r.get("tokens_per_s_per_gpu"), ""),
                "experts / layer": fmt.sci(r.get("experts_touched_per_layer")),
                "bound": r.get("bound", "—"),
                "fits": fmt.yes_no(r.get("fits_in_memory"))} for r in dec], hide_index=True)
    if isinstance(pre, Mapping):
        widgets.key_values(pre, title="Prefill figures")
    rest: dict[str, Any] = {k: v for k, v in sv.items() if k not in ("prefill", "decode")}
    if rest:
        widgets.key_values(rest, title="Serving assumptions")


# --- export & share -------------------------------------------------------------------------
def _export() -> None:
    widgets.export_panel(ctx)


# Only the open tab is rendered (on_change="rerun" tracks it): a widget change redraws one
# tab's charts, not six.
tabs = st.tabs(["Parameters", "Inference memory", "Training memory", "Compute, time & cost",
                "Serving speed", "Export & share"], key="est_tab", on_change="rerun")
BODIES = (_parameters, _inference_memory, _training_memory, _compute_cost, _serving, _export)
for tab, body in zip(tabs, BODIES):
    if tab.open is not False:  # None when tab state is not tracked: render all
        with tab:
            body()

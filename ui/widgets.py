"""Small display pieces shared by the pages (titles, callouts, tables, exports). No formulas."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import streamlit as st

from estimator import formats

from . import exports, fmt, views
from .state import LOG, Context
from .text import code, md
from .urlcodec import encode

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def model_title(d: Mapping[str, Any], edits: Mapping[str, Any]) -> None:
    m = d["model"]
    st.title(md(m["display_name"]), anchor=False)
    bits = [code(m["model_type"]), "Mixture of Experts" if m["is_moe"] else "dense"]
    a = d["architecture"]
    if m["is_moe"]:
        bits.append(f"{a['num_experts']} experts, top-{a['num_experts_per_tok']}"
                    + (f", {a['num_shared_experts']} shared" if a["num_shared_experts"] else "")
                    + f", {len(a['moe_layers'])}/{a['num_hidden_layers']} MoE layers")
    else:
        bits.append(f"{a['num_hidden_layers']} layers")
    src = m.get("source")
    # only a preset's own model card is a link: an uploaded file's ``source:`` is not ours
    if str(m.get("origin", "")).startswith("preset:") and isinstance(src, str) \
            and src.startswith("https://"):
        bits.append(f"[model card]({src})")
    bits.append(f"estimates on {md(d['gpu']['name'])}")
    st.caption(" · ".join(bits))
    if edits:
        st.caption(":orange[Edited:] " + ", ".join(code(k) for k in sorted(edits)))


def moe_headline(d: Mapping[str, Any]) -> None:
    """The sentence a newcomer should leave with: MoE memory follows total parameters,
    compute follows active ones (both dense equivalents come from the report)."""
    p = d["params"]
    rows = {r.get("label"): r for r in fmt.get(d, "dense_vs_moe.rows", []) or []}
    same_total, same_active = rows.get("same-total"), rows.get("same-active")
    with st.container(border=True):
        st.markdown(
            f"#### {fmt.params(p['total'])} parameters stored · {fmt.params(p['active'])} "
            f"used per token ({p['active_convention'].replace('_', ' ')})\n"
            f"Memory like a **{fmt.params(p['total'])} dense** model, compute like a "
            f"**{fmt.params(p['active'])} dense** one.")
        if same_total and same_active:
            this = rows.get("this model", {})
            c = st.columns(3)
            c[0].markdown(f"**This model**  \n{fmt.gib(this.get('inference_bytes_per_gpu'))} "
                          f"per GPU · {fmt.flops(this.get('forward_flops_per_token'))}/token")
            for col, title, r in ((c[1], "Dense, same total", same_total),
                                  (c[2], "Dense, same active", same_active)):
                if r.get("not_available"):  # a derived model: not the user's error
                    col.markdown(f"**{title}**")
                    col.caption(md(r["not_available"]))
                    continue
                col.markdown(f"**{title}** ({fmt.params(r.get('total_params'))})  \n"
                             f"{fmt.gib(r.get('inference_bytes_per_gpu'))} per GPU · "
                             f"{fmt.flops(r.get('forward_flops_per_token'))}/token")


def fits_text(fits: Any, capacity_bytes: int) -> str | None:
    if fits is True:
        return f"fits in {fmt.gib(capacity_bytes, 0)}"
    if fits is False:
        return f"exceeds {fmt.gib(capacity_bytes, 0)}"
    return None


def published_check(d: Mapping[str, Any]) -> None:
    pub = d["model"].get("published") or {}
    if not pub:
        return
    p = d["params"]
    conv = pub.get("convention", "with_embedding")
    active = p["active_by_convention"].get(conv, p["active"])
    rows = []
    for name, ours, theirs in (("total", p["total"], pub.get("total_params")),
                               (f"active ({conv.replace('_', ' ')})", active,
                                pub.get("active_params"))):
        if theirs:
            rows.append({"": name, "computed (exact)": f"{ours:,}",
                         "publisher": fmt.params(theirs, 1),
                         "difference": fmt.pct(ours - theirs, theirs)})
    if rows:
        st.markdown("**Against the publisher's figures**")
        st.dataframe(rows, hide_index=True)
        if pub.get("citation"):
            st.caption(f"Source: {md(pub['citation'])}")


def pending(what: str) -> None:
    st.info(f"The estimator does not report {what} yet for this build; nothing is shown rather "
            "than a guess.", icon=":material/hourglass_empty:")


def _unit(key: str) -> str:
    k = key.lower()
    if k.endswith(("fits", "gpus", "max_batch", "max_seq_len", "count", "batch", "seq_len")):
        return ""
    if "tokens_per_s" in k:
        return "rate"
    if "flops" in k or k in ("forward", "backward"):
        return "flops"
    if "cost" in k or k.endswith("usd"):
        return "usd"
    if k.endswith(("time_s", "seconds", "_s")) or k == "time":
        return "duration"
    if "bytes" in k or k in ("weights", "kv_cache", "activations", "overhead", "total", "peak",
                             "gradients", "optimizer", "master_weights", "logits", "per_gpu"):
        return "bytes"
    return ""


def _human(key: str, v: Any) -> str:
    u = _unit(key.split(".")[-1])
    if u == "rate":
        return fmt.rate(v)
    if u == "duration":
        return fmt.duration(v)
    if u == "usd":
        return fmt.usd(v)
    if u == "flops":
        return fmt.flops(v)
    if u == "bytes":
        return fmt.gib(v, 2)
    return formats.human(v, "")


def key_values(d: Mapping[str, Any], *, skip: set[str] | frozenset[str] = frozenset(),
               title: str | None = None, expanded: bool = False) -> None:
    """Every leaf of a report section with a human unit and its exact value."""
    rows = []
    for k, v in formats.flatten({k: v for k, v in d.items() if k not in skip}):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            exact = (f"{v:,}" if isinstance(v, int) else
                     f"{v:,.0f}" if abs(v) >= 1e6 else f"{v:,.6g}")
            rows.append({"key": k, "value": _human(k, v), "exact": exact})
        else:
            rows.append({"key": k, "value": "—" if v is None else str(v), "exact": ""})
    if not rows:
        return
    if title is None:
        st.dataframe(rows, hide_index=True)
        return
    with st.expander(title, expanded=expanded):
        st.dataframe(rows, hide_index=True)


def kv_table(mi: Mapping[str, Any], parts: Mapping[str, float]) -> None:
    st.dataframe([{"component": fmt.label(k), "GiB": fmt.gib(v, 2), "bytes": f"{v:,.0f}"}
                  for k, v in parts.items()], hide_index=True)
    extra = []
    for key, label in (("max_batch", "largest batch that fits"),
                       ("max_seq_len", "longest context that fits")):
        v = mi.get(key)
        if v is not None:
            extra.append(f"{label}: **{fmt.exact(v)}**")
    if extra:
        st.markdown(" · ".join(extra))


# ----------------------------------------------------------------------------------------------
# exports and the share link
# ----------------------------------------------------------------------------------------------

def share_link(ctx: Context) -> str | None:
    if ctx.state is None:
        return None
    query = urllib.parse.urlencode(encode(ctx.state), safe=",|")
    try:
        base = st.context.url or ""
    except Exception:  # noqa: BLE001 - no browser context (tests)
        base = ""
    return f"{base}?{query}"


def export_panel(ctx: Context) -> None:
    report = ctx.report
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", report.model.spec.name).strip("-") or "model"
    st.markdown("Every file records the inputs (model, architecture, options), the conventions "
                "each number uses and the estimator version.")

    def html_bytes() -> bytes:
        try:
            return exports.to_html(report, views.figures(report)).encode("utf-8")
        except Exception:  # noqa: BLE001 - keep the download from failing silently
            LOG.exception("HTML export failed")
            return exports.to_html(report, {}).encode("utf-8")

    c = st.columns(5)
    c[0].download_button("Markdown", exports.to_markdown(report), f"{slug}-estimate.md",
                         "text/markdown", icon=":material/description:", on_click="ignore",
                         key="dl_md", width="stretch")
    c[1].download_button("HTML (charts)", html_bytes, f"{slug}-estimate.html", "text/html",
                         icon=":material/web:", on_click="ignore", key="dl_html",
                         width="stretch")
    c[2].download_button("JSON", exports.to_json(report), f"{slug}-estimate.json",
                         "application/json", icon=":material/data_object:", on_click="ignore",
                         key="dl_json", width="stretch")
    c[3].download_button("CSV", exports.to_csv(report), f"{slug}-estimate.csv", "text/csv",
                         icon=":material/table:", on_click="ignore", key="dl_csv",
                         width="stretch")
    c[4].download_button("Model YAML", exports.to_yaml(report, edited=bool(ctx.edits)),
                         f"{slug}.yaml", "application/x-yaml", icon=":material/code:",
                         on_click="ignore", key="dl_yaml", width="stretch")
    link = share_link(ctx)
    if link:
        st.markdown("**Share this estimate** — the link reproduces the model, its edits and "
                    "every option (the address bar holds it too):")
        st.code(link, language=None, wrap_lines=True)


# ----------------------------------------------------------------------------------------------
# headline rows (estimator.sweep.headline_of) as a comparison table
# ----------------------------------------------------------------------------------------------

HEADLINE_COLUMNS = (
    ("total_params", "total params", fmt.params),
    ("active_params", "active / token", fmt.params),
    ("forward_flops_per_token", "forward FLOPs / token", fmt.flops),
    ("training_flops_per_token", "training FLOPs / token", fmt.flops),
    ("inference_bytes_per_gpu", "inference GiB / GPU", fmt.gib),
    ("kv_cache_bytes", "KV cache", fmt.gib),
    ("inference_fits", "inference fits", fmt.yes_no),
    ("training_peak_bytes_per_gpu", "training peak GiB / GPU", fmt.gib),
    ("training_fits", "training fits", fmt.yes_no),
    ("training_gpu_hours", "GPU-hours", fmt.count),
    ("training_cost_usd", "training cost", fmt.usd),
    ("prefill_seconds", "prefill time", fmt.duration),
    ("decode_tokens_per_s", "decode tokens/s", fmt.count),
)
RATIO_KEYS = ("total_params", "active_params", "forward_flops_per_token",
              "inference_bytes_per_gpu", "training_cost_usd")


def ratio(a: Any, b: Any) -> str:
    x, y = fmt.num(a), fmt.num(b)
    if x is None or not y:
        return fmt.DASH
    return f"{x / y:.2f}×"


def headline_table(rows: list[tuple[str, Mapping[str, Any]]],
                   ref: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """One display row per (name, headline row); ratio columns against ``ref``."""
    out = []
    for name, r in rows:
        row: dict[str, str] = {"model": name}
        if r.get("error") or r.get("not_available"):
            row["total params"] = (r["not_available"] if r.get("not_available")
                                   else f"error: {r['error']}")
            out.append(row)
            continue
        for key, label, f in HEADLINE_COLUMNS:
            row[label] = f(r.get(key))
        if ref is not None:
            for key in RATIO_KEYS:
                label = dict((k, lbl) for k, lbl, _ in HEADLINE_COLUMNS)[key]
                row[f"{label} vs this"] = ratio(r.get(key), ref.get(key))
        out.append(row)
    return out

"""Exports: Markdown, JSON, CSV (``estimator.formats``), self-contained HTML, and the model YAML.

Everything is rendered from ``Report.to_dict()``, so a file records the inputs (model,
architecture, options), the conventions each number uses and the estimator version, and cannot
disagree with the screen. The HTML is one file with plotly.js inlined (works offline); every
string that came from a user (names, uploaded config values) is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections.abc import Mapping
from typing import Any

import yaml

from estimator import formats
from estimator.report import Report

from . import fmt
from .urlcodec import custom_fields

SECTIONS = (("Model and published figures", "model"), ("Parameters", "params"),
            ("FLOPs", "flops"),
            ("Inference memory", "memory.inference"), ("Training memory", "memory.training"),
            ("Training compute, time and cost", "training"), ("Serving", "serving"),
            ("Dense vs MoE", "dense_vs_moe"), ("Checkpoint", "checkpoint"),
            ("Checkpoint quantization", "checkpoint_quantization"),
            ("Conventions", "conventions"),
            ("Options (inputs)", "options"), ("GPU", "gpu"), ("Architecture", "architecture"))


def to_markdown(report: Report) -> str:
    return formats.to_markdown(report.to_dict())


def to_json(report: Report) -> str:
    return formats.to_json(report)


def to_csv(report: Report) -> str:
    return formats.to_csv(report.to_dict())


def to_yaml(report: Report, edited: bool) -> str:
    """The model as a file ``estimator.load_model()`` reads back (preset format when the model
    is an unedited preset/config.json; ``model_type: custom`` spec fields when edited)."""
    m, d = report.model, report.to_dict(compare=False)
    header = [f"# MoE cost estimator {d['version']} — model config exported "
              f"{_dt.date.today().isoformat()}",
              f"# origin: {_oneline(m.origin)}",
              "# options used for the exported estimate: "
              + ", ".join(f"{k}={v}" for k, v in d["options"].items()),
              "# conventions: " + "; ".join(f"{k}={v}" for k, v in report.conventions().items()),
              "# reload: python -m estimator report <this file>   (or upload it in the app)"]
    if m.hf_config is not None and not edited:
        body: dict[str, Any] = {"name": m.spec.name, "display_name": m.display_name}
        if m.source:
            body["source"] = m.source
        if m.published:
            body["published"] = dict(m.published)
        body["config"] = _plain(m.hf_config)
    else:
        fields = _plain(custom_fields(m.spec))
        family = fields.pop("model_type", "custom")
        body = {"name": fields.pop("name"), "model_type": "custom"}  # a spec-field file
        if family != "custom":
            body["family"] = family  # the HF family the spec was read as
        body.update(fields)
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=None)
    return "\n".join(header) + "\n" + text


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _oneline(s: Any) -> str:
    return str(s).replace("\n", " ").replace("\r", " ")


# ----------------------------------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------------------------------

_CSS = """
body{font-family:Inter,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:32px auto;
max-width:1100px;color:#212529;padding:0 20px;line-height:1.45}
h1{font-size:26px;margin-bottom:4px}h2{font-size:19px;margin-top:34px;border-bottom:1px solid
#dee2e6;padding-bottom:4px}.meta{color:#6c757d;font-size:13px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:18px 0}.card{border:1px solid #dee2e6;
border-radius:8px;padding:10px 14px;min-width:160px}.card .k{font-size:12px;color:#6c757d}
.card .v{font-size:22px;font-weight:600}
table{border-collapse:collapse;font-size:13px;width:100%;margin:8px 0}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
"""


def _e(x: Any) -> str:
    return html.escape(_oneline(x), quote=True)


def _safe_url(url: Any) -> str | None:
    u = str(url or "")
    return u if u.startswith(("https://", "http://")) else None


def headline_cards(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the headline figures (the page's metrics, as text)."""
    mi = fmt.get(d, "memory.inference", {})
    mt = fmt.get(d, "memory.training", {})
    return [
        ("Total parameters", fmt.params(fmt.get(d, "params.total"))),
        ("Active per token", fmt.params(fmt.get(d, "params.active"))),
        ("Forward FLOPs / token", fmt.flops(fmt.get(d, "flops.forward_per_token"))),
        ("Training FLOPs / token", fmt.flops(fmt.get(d, "flops.training_per_token"))),
        ("Inference memory / GPU", fmt.gib(fmt.first(mi, "per_gpu", "total"))),
        ("Training peak / GPU", fmt.gib(fmt.first(mt, "peak", "per_gpu.total"))),
        ("Training cost", fmt.usd(fmt.first(d, "training.cost_usd", "training.cost"))),
    ]


def _section_table(section: Any) -> str:
    if not isinstance(section, Mapping) or not section:
        return "<p class='meta'>—</p>"
    rows = []
    for k, v in formats.flatten(section):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            shown = "" if v is None else str(v)
        else:
            shown = f"{v:,}" if isinstance(v, int) else f"{v:,.6g}"
        rows.append(f"<tr><td>{_e(k)}</td><td class='n'>{_e(shown)}</td></tr>")
    return "<table><tr><th>key</th><th>value (exact units: parameters, bytes, FLOPs, s, $)</th>" \
           "</tr>" + "".join(rows) + "</table>"


def to_html(report: Report, figures: Mapping[str, Any] | None = None) -> str:
    """One self-contained HTML file: headline, charts (plotly.js inlined), every section."""
    d = formats.exact_numbers(report.to_dict())  # counts print as the integers they are
    m = d["model"]
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>{_e(m['display_name'])} — MoE cost estimate</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{_e(m['display_name'])}</h1>",
             f"<div class='meta'>model_type {_e(m['model_type'])} · "
             f"{'Mixture of Experts' if m['is_moe'] else 'dense'} · origin {_e(m['origin'])}"]
    # only a preset's own model card is a link; an uploaded file's ``source:`` is shown as text
    src = _safe_url(m.get("source")) if str(m.get("origin", "")).startswith("preset:") else None
    if src:
        parts.append(f" · <a href='{_e(src)}' rel='noopener noreferrer'>{_e(src)}</a>")
    elif m.get("source"):
        parts.append(f" · source {_e(m['source'])}")
    parts.append(f"<br>MoE cost estimator {_e(d['version'])} · schema {_e(d['schema'])} · "
                 f"GPU {_e(fmt.get(d, 'gpu.name'))} · exported "
                 f"{_e(_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC'))}</div>")
    parts.append("<div class='cards'>" + "".join(
        f"<div class='card'><div class='k'>{_e(k)}</div><div class='v'>{_e(v)}</div></div>"
        for k, v in headline_cards(d)) + "</div>")
    parts.append("<p class='meta'>Units: GiB = 2<sup>30</sup> bytes; B = 10<sup>9</sup> "
                 "parameters; TFLOP = 10<sup>12</sup> FLOPs. Active parameters: "
                 f"{_e(fmt.get(d, 'params.active_convention'))} convention.</p>")
    first = True
    for title, fig in (figures or {}).items():
        parts.append(f"<h2>{_e(title)}</h2>")
        fig.update_layout(template="plotly_white")  # on screen, Streamlit's theme applies
        parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False,
                                 config={"displaylogo": False, "responsive": True}))
        first = False
    for title, key in SECTIONS:
        parts.append(f"<details{' open' if key in ('params', 'conventions', 'options') else ''}>"
                     f"<summary>{_e(title)}</summary>{_section_table(fmt.get(d, key))}"
                     "</details>")
    parts.append("<h2>Report JSON</h2><details><summary>the full report (the same as the JSON "
                 "export)</summary><pre>"
                 + html.escape(json.dumps(d, indent=1, default=str)) + "</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)

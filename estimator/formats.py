"""Rendering a :class:`~estimator.report.Report` (or sweep rows) as JSON, Markdown or CSV.

Every export is rendered from ``Report.to_dict()``, so it records the inputs (model, options),
the conventions each number uses and the estimator version, and can never disagree with the
screen. Exact integers stay exact in JSON/CSV; Markdown adds human units (GiB = 2^30 bytes,
B = 10^9 parameters, GFLOP = 10^9 FLOPs) next to nothing else.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

GIB = 2**30


def render(report, fmt: str) -> str:
    d = report.to_dict()
    if fmt == "json":
        return json.dumps(d, indent=2, default=_json_default) + "\n"
    if fmt == "csv":
        return to_csv(d)
    if fmt == "md":
        return to_markdown(d)
    raise ValueError(fmt)


def _json_default(o: Any):
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


def flatten(d: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Yield ``("a.b.c", value)`` for every leaf; lists of scalars are joined, lists of dicts
    are indexed (``serving.decode.0.batch``)."""
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            yield from flatten(v, key + ".")
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, Mapping) for x in v):
            for i, x in enumerate(v):
                yield from flatten(x, f"{key}.{i}.")
        elif isinstance(v, (list, tuple)):
            yield key, ";".join(str(x) for x in v)
        else:
            yield key, v


def to_csv(d: Mapping[str, Any]) -> str:
    """Long format: one ``key,value`` row per leaf of the report."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["key", "value"])
    for k, v in flatten(d):
        w.writerow([k, "" if v is None else v])
    return buf.getvalue()


def to_json(report) -> str:
    return render(report, "json")


def render_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=1, default=_json_default) + "\n"
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------

def human(value: Any, unit: str) -> str:
    """Format ``value`` in ``unit`` ('params', 'bytes', 'flops', 'count', 's', 'usd')."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if unit == "params":
        return f"{value / 1e9:,.2f} B" if abs(value) >= 1e8 else f"{value / 1e6:,.2f} M"
    if unit == "bytes":
        return f"{value / GIB:,.2f} GiB"
    if unit == "flops":
        for scale, name in ((1e24, "YFLOP"), (1e21, "ZFLOP"), (1e18, "EFLOP"), (1e15, "PFLOP"),
                            (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")):
            if abs(value) >= scale:
                return f"{value / scale:,.2f} {name}"
        return f"{value:,.0f} FLOP"
    if unit == "usd":
        return f"${value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}"


def _unit_for(section: str, key: str) -> str:
    if section.startswith("params"):
        return "params"
    if section.startswith("memory"):
        return "bytes" if not key.endswith(("fits", "gpus", "max_batch", "max_seq_len",
                                            "max_seq_len_memory", "stage", "tp", "pp", "ep",
                                            "gpus_per_stage", "attention_dp", "utilization",
                                            "batch", "seq_len")) else ""
    if section.startswith("flops"):
        return "flops" if key not in ("batch", "seq_len", "flops_per_mac") else ""
    if "flops" in key:
        return "flops"
    if key.endswith(("bytes", "memory", "bytes_read")) or key in ("weights", "kv_cache"):
        return "bytes"
    if key.startswith("cost") or key.endswith("usd"):
        return "usd"
    return ""


def _table(rows: Iterable[tuple[str, str, str]], header=("quantity", "value", "exact")) -> str:
    out = [f"| {header[0]} | {header[1]} | {header[2]} |", "|---|---:|---:|"]
    for a, b, c in rows:
        out.append(f"| {_md(a)} | {_md(b)} | {_md(c)} |")
    return "\n".join(out)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(d: Mapping[str, Any]) -> str:
    m, p, o = d["model"], d["params"], d["options"]
    lines = [f"# {_md(m['display_name'])} — cost estimate", ""]
    lines += [f"- model_type: `{m['model_type']}` ({'MoE' if m['is_moe'] else 'dense'}); "
              f"origin: `{_md(m['origin'])}`" + (f"; source: {m['source']}" if m['source'] else ""),
              f"- estimator {d['version']}; GPU: {d['gpu']['name']}",
              "- options: " + ", ".join(f"{k}={v}" for k, v in o.items()), ""]
    lines += ["## Parameters", ""]
    rows = [("total", human(p["total"], "params"), f"{p['total']:,}"),
            ("active per token (with embedding)", human(p["active"], "params"),
             f"{p['active']:,}")]
    for conv, v in p["active_by_convention"].items():
        if conv != "with_embedding":
            rows.append((f"active per token ({conv.replace('_', ' ')})", human(v, "params"),
                         f"{v:,}"))
    rows += [(f"· {k}", human(v, "params"), f"{v:,}") for k, v in p["breakdown"].items() if v]
    if p.get("buffers"):
        rows.append(("checkpoint buffers (not parameters)", human(p["buffers"], "params"),
                     f"{p['buffers']:,}"))
    if p.get("mtp"):
        rows.append(("MTP modules (outside the main model)", human(p["mtp"], "params"),
                     f"{p['mtp']:,}"))
    lines += [_table(rows), ""]
    for title, key in (("FLOPs", "flops"), ("Inference memory", "memory.inference"),
                       ("Training memory (per GPU)", "memory.training"),
                       ("Training compute, time and cost", "training"), ("Serving", "serving")):
        section = d
        for part in key.split("."):
            section = section.get(part, {}) if isinstance(section, Mapping) else {}
        if not section:
            continue
        lines += [f"## {title}", ""]
        rows = []
        for k, v in flatten(section):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                u = _unit_for(key, k.split(".")[-1])
                rows.append((k, human(v, u) if u else human(v, ""),
                             f"{v:,}" if isinstance(v, int) else f"{v:.6g}"))
            else:
                rows.append((k, "" if v is None else str(v), ""))
        lines += [_table(rows), ""]
    notes = m.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {_md(n)}" for n in notes] + [""]
    return "\n".join(lines)

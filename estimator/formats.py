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
    """Format ``value`` in ``unit``: 'params', 'bytes', 'flops', 'flop/s', 'bytes/s', 's',
    'usd', 'count' or '' (a plain number)."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if unit == "params":
        return f"{value / 1e9:,.2f} B" if abs(value) >= 1e8 else f"{value / 1e6:,.2f} M"
    if unit == "bytes":  # sizes in binary units (GiB = 2^30), as allocators report them
        for scale, name in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= scale:
                return f"{value / scale:,.2f} {name}"
        return f"{value:,.0f} B"
    if unit == "bytes/s":  # bandwidth in decimal units, as datasheets state it
        return f"{value / 1e12:,.2f} TB/s" if abs(value) >= 1e11 else f"{value / 1e9:,.2f} GB/s"
    if unit in ("flops", "flop/s"):
        suffix = "/s" if unit == "flop/s" else ""
        for scale, name in ((1e24, "YFLOP"), (1e21, "ZFLOP"), (1e18, "EFLOP"), (1e15, "PFLOP"),
                            (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")):
            if abs(value) >= scale:
                return f"{value / scale:,.2f} {name}{suffix}"
        return f"{value:,.0f} FLOP{suffix}"
    if unit == "usd":
        return f"${value:,.2f}" if abs(value) < 100 else f"${value:,.0f}"
    if unit == "s":
        return f"{value:,.4g} s"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}"


# Leaf keys that are counts, sizes or settings, never bytes/FLOPs, whatever section they sit in.
_PLAIN_KEYS = frozenset((
    "batch", "seq_len", "tokens", "stage", "peak_stage", "in_flight_microbatches", "in_flight",
    "tp", "pp", "ep", "etp", "cp", "dp", "zero", "world", "zero_shard_group",
    "expert_data_parallel", "gpus", "gpus_per_stage", "expert_tp", "attention_dp", "num_gpus",
    "max_batch", "max_seq_len", "max_seq_len_memory", "max_batch_in_memory",
    "compute_bound_from_batch", "decode_context", "flops_per_mac", "training_multiplier",
    "gpu_memory_utilization", "mfu", "mbu", "tokens_per_s", "tokens_per_s_per_gpu",
    "tokens_per_s_per_user", "experts_touched_per_layer", "tokens_per_gpu", "bytes_per_element",
    "micro_batch", "grad_accum", "sequences", "tokens_per_param_total",
    "tokens_per_param_active", "tokens_per_param_guidance", "days", "gpu_hours"))


def unit_of(path: str) -> str:
    """The unit of the report value at ``path`` (e.g. ``memory.training.per_gpu.weights``)."""
    parts = path.split(".")
    key = parts[-1]
    if key in _PLAIN_KEYS or key.isdigit():
        return ""
    if "bytes_per_param" in parts:
        return ""  # bytes per parameter: a small plain number
    if key in ("cost_usd", "price_per_gpu_hour") or key.endswith("_usd"):
        return "usd"
    if key.endswith(("_s", "seconds")):
        return "s"
    if key in ("peak_flops_per_gpu", "peak_flops"):
        return "flop/s"
    if key.startswith("bandwidth"):
        return "bytes/s"
    if parts[0] == "params" or "params_on_gpu" in parts or key in ("n_active", "params") \
            or key.startswith(("optimal_tokens", "params")):
        return "params" if not key.startswith("optimal_tokens") else ""
    if "flops" in key or key in ("forward", "backward", "six_n_d") or parts[0] == "flops":
        return "flops"
    if parts[0] == "memory" or "bytes" in key or key in ("weights", "kv_cache"):
        return "bytes"
    return ""


def _table(rows: Iterable[tuple[str, str, str]], header=("quantity", "value", "exact")) -> str:
    out = [f"| {header[0]} | {header[1]} | {header[2]} |", "|---|---:|---:|"]
    for a, b, c in rows:
        out.append(f"| {_md(a)} | {_md(b)} | {_md(c)} |")
    return "\n".join(out)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _option_text(name: str, value: Any, d: Mapping[str, Any]) -> str:
    """An option as the Markdown header shows it; ``auto`` says what it resolved to."""
    if name == "kv_dtype" and value == "auto":
        resolved = d.get("memory", {}).get("inference", {}).get("kv_dtype")
        return f"auto ({resolved})" if resolved else "auto"
    return str(value)


def to_markdown(d: Mapping[str, Any]) -> str:
    m, p, o = d["model"], d["params"], d["options"]
    lines = [f"# {_md(m['display_name'])} — cost estimate", ""]
    lines += [f"- model_type: `{m['model_type']}` ({'MoE' if m['is_moe'] else 'dense'}); "
              f"origin: `{_md(m['origin'])}`" + (f"; source: {m['source']}" if m['source'] else ""),
              f"- estimator {d['version']}; GPU: {d['gpu']['name']}",
              "- options: " + ", ".join(f"{k}={_option_text(k, v, d)}" for k, v in o.items()),
              ""]
    lines += ["## Parameters", ""]
    conv = p["active_convention"]
    rows = [("total", human(p["total"], "params"), f"{p['total']:,}"),
            (f"active per token ({conv.replace('_', ' ')}: params.active)",
             human(p["active"], "params"), f"{p['active']:,}")]
    for other, v in p["active_by_convention"].items():
        if other != conv:
            rows.append((f"active per token ({other.replace('_', ' ')})", human(v, "params"),
                         f"{v:,}"))
    rows += [(f"· {k}", human(v, "params"), f"{v:,}") for k, v in p["breakdown"].items() if v]
    if p.get("buffers"):
        rows.append(("checkpoint buffers (not parameters)", human(p["buffers"], "params"),
                     f"{p['buffers']:,}"))
    if p.get("mtp"):
        rows.append(("MTP modules (outside the main model)", human(p["mtp"], "params"),
                     f"{p['mtp']:,}"))
    if p.get("vision"):
        rows.append(("vision encoder + projector (outside total)", human(p["vision"], "params"),
                     f"{p['vision']:,}"))
    lines += [_table(rows), "",
              f"Active per token is given in the `{conv}` convention: "
              f"{_md(p.get('active_convention_source', ''))}.", ""]
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
                u = unit_of(f"{key}.{k}")
                rows.append((k, human(v, u) if u else human(v, ""),
                             f"{v:,}" if isinstance(v, int) else f"{v:.6g}"))
            else:
                rows.append((k, "" if v is None else str(v), ""))
        lines += [_table(rows), ""]
    notes = m.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {_md(n)}" for n in notes] + [""]
    return "\n".join(lines)

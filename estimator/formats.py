"""Rendering a :class:`~estimator.report.Report` (or sweep rows) as JSON, Markdown or CSV.

Every export is rendered from ``Report.to_dict()``, so it records the inputs (model, options),
the conventions each number uses and the estimator version, and can never disagree with the
screen. Exact integers stay exact in JSON/CSV; Markdown adds human units (GiB = 2^30 bytes,
B = 10^9 parameters, GFLOP = 10^9 FLOPs) next to nothing else.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

GIB = 2**30


def render(report, fmt: str) -> str:
    d = exact_numbers(report.to_dict())
    if fmt == "json":
        return dumps_strict(d, indent=2) + "\n"
    if fmt == "csv":
        return to_csv(d)
    if fmt == "md":
        return to_markdown(d)
    raise ValueError(fmt)


def finite(obj: Any, path: str = "", replaced: list[str] | None = None) -> Any:
    """``obj`` with every NaN/±inf float replaced by None (their paths appended to
    ``replaced``): JSON has no such numbers, and ``NaN``/``Infinity`` break strict parsers."""
    if isinstance(obj, float) and not math.isfinite(obj):
        if replaced is not None:
            replaced.append(path or "value")
        return None
    if isinstance(obj, Mapping):
        return {k: finite(v, f"{path}.{k}" if path else str(k), replaced)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v, f"{path}.{i}" if path else str(i), replaced)
                for i, v in enumerate(obj)]
    return obj


def dumps_strict(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON (RFC 8259): a non-finite number becomes null, and a top-level
    ``non_finite_replaced_by_null`` list names where (none is expected: options and sizes are
    bounded so every figure is finite; this is the guarantee, not the mechanism)."""
    replaced: list[str] = []
    clean = finite(obj, "", replaced)
    if replaced and isinstance(clean, dict):
        clean["non_finite_replaced_by_null"] = replaced
    return json.dumps(clean, indent=indent, default=_json_default, allow_nan=False)


def _json_default(o: Any):
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


#: Floats at or above 2^53 may already have lost their last digits: left as floats, never
#: printed as integers they cannot vouch for.
_EXACT_FLOAT_LIMIT = 2**53


def exact_numbers(d: Any, path: str = "") -> Any:
    """``d`` with every whole-number float that counts parameters, bytes or FLOPs made an int.

    Per-token figures are quotients (``forward / tokens``) and come out of the arithmetic as
    floats even when exact (``27644657664.0``); every format prints counts as the integers the
    README promises. Below 2^53 a whole float is exactly that integer, so nothing is rounded;
    fractions (a per-token average that does not divide) stay floats. Settings and ratios
    (``capacity_factor``, ``mfu``) keep their type.
    """
    if isinstance(d, Mapping):
        return {k: exact_numbers(v, f"{path}.{k}" if path else str(k)) for k, v in d.items()}
    if isinstance(d, list):
        return [exact_numbers(v, f"{path}.{i}") for i, v in enumerate(d)]
    if isinstance(d, float) and d.is_integer() and abs(d) < _EXACT_FLOAT_LIMIT \
            and unit_of(path) in ("params", "bytes", "flops", "flop/s", "bytes/s"):
        return int(d)
    return d


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


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: a *string* that starts like a formula (a
    model name ``=HYPERLINK(...)`` from an uploaded config) gets a leading apostrophe, as OWASP
    recommends; numbers, including negative ones, are written unchanged; None is empty."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(d: Mapping[str, Any]) -> str:
    """Long format: one ``key,value`` row per leaf of the report."""
    d = exact_numbers(d)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["key", "value"])
    for k, v in flatten(d):
        w.writerow([csv_cell(k), csv_cell(v)])
    return buf.getvalue()


def to_json(report) -> str:
    return render(report, "json")


def render_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    rows = [exact_numbers(r) for r in rows]  # sweep FLOPs per token print as integers too
    if fmt == "json":
        return dumps_strict(rows, indent=1) + "\n"
    buf = io.StringIO()
    if rows:
        w = csv.writer(buf, lineterminator="\n")
        fields = list(rows[0])
        w.writerow([csv_cell(k) for k in fields])
        w.writerows([csv_cell(r.get(k)) for k in fields] for r in rows)
    return buf.getvalue()


def render_checkpoint(ck, fmt: str) -> str:
    """A :class:`~estimator.checkpoint.CheckpointBytes` as JSON or a Markdown table."""
    d = ck.to_dict()
    if fmt == "json":
        return json.dumps(d, indent=2) + "\n"
    rows = [(dt, f"{d['elements_by_dtype'][dt]:,}", f"{b:,}", human(b, "bytes"))
            for dt, b in d["bytes_by_dtype"].items()]
    rows.append(("**total**", f"{sum(d['elements_by_dtype'].values()):,}",
                 f"{d['total_bytes']:,}", human(d["total_bytes"], "bytes")))
    out = [f"# Checkpoint: {d['tensors']:,} tensors in {len(d['files'])} safetensors file(s)",
           "", "| dtype | elements | bytes | size |", "|---|---:|---:|---:|"]
    out += [f"| {a} | {b} | {c} | {e} |" for a, b, c, e in rows]
    return "\n".join(out + ["", f"{d['method']}.", ""])


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
        return f"{value:,.0f} s" if abs(value) >= 1e4 else f"{value:,.4g} s"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"


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
    "tokens_per_param_active", "tokens_per_param_guidance", "days", "gpu_hours",
    "capacity_factor", "intermediate_size", "adam_bytes", "adam_bytes_per_param",
    "training_gpu_hours", "decode_tokens_per_s", "decode_tokens_per_s_per_user",
    # the serving engine's counts and settings (memory.inference.engine, .layout)
    "utilization", "block_size", "num_blocks", "max_model_len", "max_num_batched_tokens",
    "max_num_seqs", "max_concurrency", "attention_groups", "tried"))
#: Key endings that name counts whatever section they sit in (token capacities, request slots).
_PLAIN_SUFFIXES = ("_tokens", "_tokens_all_replicas", "_slots", "_requests", "_blocks")


@functools.lru_cache(maxsize=4096)  # a report has a few hundred distinct paths; a sweep, 14
def unit_of(path: str) -> str:
    """The unit of the report value at ``path`` (e.g. ``memory.training.per_gpu.weights``)."""
    parts = path.split(".")
    key = parts[-1]
    if key in _PLAIN_KEYS or key.isdigit() or key.endswith(_PLAIN_SUFFIXES):
        return ""
    if parts[0] == "checkpoint":  # bytes per dtype, weights; tensors and elements are counts
        return "bytes" if "bytes" in path or "weights" in key or key.endswith("checkpoint") \
            else ""
    if parts[0] == "checkpoint_quantization":  # weight bytes; bits, group and block sizes
        return "bytes" if "bytes" in path else ""
    if "bytes_per_param" in parts:
        return ""  # bytes per parameter: a small plain number
    if key in ("cost_usd", "price_per_gpu_hour") or key.endswith("_usd"):
        return "usd"
    if key.startswith("bandwidth"):
        return "bytes/s"
    if key.endswith(("_s", "seconds")):
        return "s"
    if key in ("peak_flops_per_gpu", "peak_flops") or (parts[0] == "gpu"
                                                        and key.endswith("_flops")):
        return "flop/s"  # datasheet peaks (gpu.bf16_flops), not counts
    if parts[0] == "params" or "params_on_gpu" in parts or key in ("n_active", "params") \
            or key.startswith(("optimal_tokens", "params")) or key.endswith("_params"):
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


# Markdown syntax that links, embeds or formats: a user's string (a model name, a config value
# echoed in a message) is escaped so a Markdown viewer shows it literally, never as a link or an
# image it would fetch. ':' and '@' break bare-URL and e-mail autolinks.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~$:@])")


_WJ = "\u2060"  # WORD JOINER: invisible; breaks the autolinks a backslash does not stop


def plain(text: Any) -> str:
    """A user string as literal Markdown text, on one line. Viewers link bare URLs, 'www.'
    hosts and e-mail addresses from the decoded text (GitHub, Streamlit), so a WORD JOINER
    goes inside '://', after 'www' and after '@' as well."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    s = re.sub(r"(?i)(://)", _WJ + r"\1", s)
    s = re.sub(r"(?i)\b(www)\.", r"\1" + _WJ + ".", s).replace("@", "@" + _WJ)
    return _MD_SPECIAL.sub(r"\\\1", s)


def _code(text: Any) -> str:
    return "`" + str(text).replace("`", "'").replace("\r", " ").replace("\n", " ") + "`"


def exact(v: int | float) -> str:
    """The exact column: integers in full with separators; fractions to six significant
    digits, but never in exponent notation for large values (bytes_read 97,328,912,345.47)."""
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.2f}" if abs(v) >= 1e5 else f"{v:.6g}"


def _value_row(path: str, k: str, v: Any) -> tuple[str, str, str]:
    """(key, value in its unit, exact value) for one leaf at ``path``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        u = unit_of(path)
        return (k, human(v, u) if u else human(v, ""), exact(v))
    return (k, "" if v is None else plain(v), "")


def _section(title: str, key: str, section: Any) -> list[str]:
    """A ``## title`` and one row per leaf of ``section`` (the report's subtree at ``key``)."""
    if not isinstance(section, Mapping) or not section:
        return []
    rows = [_value_row(f"{key}.{k}", k, v) for k, v in flatten(section)]
    return [f"## {title}", "", _table(rows), ""]


def _dense_vs_moe(section: Any) -> list[str]:
    """The dense-vs-MoE comparison as one table: a column per model (this one, same-total
    dense, same-active dense), a row per figure."""
    if not isinstance(section, Mapping) or not section.get("rows"):
        return _section("Dense vs MoE", "dense_vs_moe", section)
    models = [r for r in section["rows"] if isinstance(r, Mapping)]
    keys = [k for k in dict.fromkeys(k for r in models for k in r) if k != "label"]
    out = ["## Dense vs MoE", ""]
    if section.get("method"):
        out += [_md(section["method"]), ""]
    out.append("| quantity | " + " | ".join(_md(r.get("label", "")) for r in models) + " |")
    out.append("|---|" + "---:|" * len(models))
    for k in keys:
        cells = []
        for r in models:
            _, shown, exact = _value_row(f"dense_vs_moe.rows.{k}", k, r.get(k))
            cells.append(f"{shown} ({exact})" if exact and exact != shown else shown)
        out.append(f"| {_md(k)} | " + " | ".join(_md(c) for c in cells) + " |")
    out.append("")
    rest = {k: v for k, v in section.items() if k not in ("rows", "method")}
    for k, v in rest.items():
        title = "Compute-optimal dense model" if k == "compute_optimal_dense" else k
        out += _section(title, f"dense_vs_moe.{k}", v if isinstance(v, Mapping) else {k: v})
    return out


#: The Markdown report's sections after Parameters: (title, key in ``Report.to_dict()``).
#: Together with the header (model, options) they cover every key of the JSON report.
MARKDOWN_SECTIONS = (("FLOPs", "flops"), ("Inference memory", "memory.inference"),
                     ("Training memory (per GPU)", "memory.training"),
                     ("Training compute, time and cost", "training"), ("Serving", "serving"),
                     ("Dense vs MoE", "dense_vs_moe"), ("Conventions", "conventions"),
                     ("Checkpoint (safetensors headers)", "checkpoint"),
                     ("Checkpoint quantization (config.json)", "checkpoint_quantization"),
                     ("GPU", "gpu"), ("Architecture (as estimated)", "architecture"))


def _option_text(name: str, value: Any, d: Mapping[str, Any]) -> str:
    """An option as the Markdown header shows it; ``auto`` says what it resolved to."""
    if name == "kv_dtype" and value == "auto":
        resolved = d.get("memory", {}).get("inference", {}).get("kv_dtype")
        return f"auto ({resolved})" if resolved else "auto"
    return str(value)


def to_markdown(d: Mapping[str, Any]) -> str:
    """The report as Markdown: every section of the JSON report, values in their units beside
    the exact figure; every string that can come from a user (names, sources, notes, option and
    config values) shown as plain text (:func:`plain`)."""
    d = exact_numbers(d)
    m, p, o = d["model"], d["params"], d["options"]
    lines = [f"# {plain(m['display_name'])} — cost estimate", ""]
    src = m.get("source")
    src_text = (f"; source: {src}" if str(m.get("origin", "")).startswith("preset:")
                and isinstance(src, str) and src.startswith("https://")  # our own model cards
                else f"; source: {plain(src)}" if src else "")
    lines += [f"- model_type: {_code(m['model_type'])} ({'MoE' if m['is_moe'] else 'dense'}); "
              f"origin: {_code(m['origin'])}" + src_text,
              f"- estimator {d['version']}; GPU: {plain(d['gpu']['name'])}",
              "- options: " + ", ".join(f"{k}={plain(_option_text(k, v, d))}"
                                        for k, v in o.items()), ""]
    if m.get("published"):
        lines += _section("Published figures (model card)", "model.published", m["published"])
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
    for title, key in MARKDOWN_SECTIONS:
        section: Any = d
        for part in key.split("."):
            section = section.get(part, {}) if isinstance(section, Mapping) else {}
        if not section:
            continue
        lines += _dense_vs_moe(section) if key == "dense_vs_moe" else _section(title, key,
                                                                              section)
    notes = m.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {plain(n)}" for n in notes] + [""]
    return "\n".join(lines)

"""Units at the edge: human-readable strings for exact numbers from the report (no formulas).

GiB = 2^30 bytes (what ``nvidia-smi`` and PyTorch call "GB"); B = 10^9 parameters;
TFLOP = 10^12 FLOPs. Anything missing or non-numeric renders as an em dash, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GIB = 2**30
DASH = "—"


def get(d: Any, path: str, default: Any = None) -> Any:
    """``d["a"]["b"]["c"]`` for ``path="a.b.c"``; ``default`` if any step is missing."""
    cur = d
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, (list, tuple)) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
    return cur


def num(v: Any) -> float | None:
    """``v`` as a number if it is one (a ``{"total": x}`` dict counts as ``x``), else None."""
    if isinstance(v, Mapping):
        v = v.get("total")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v


def params(v: Any, digits: int = 1) -> str:
    x = num(v)
    if x is None:
        return DASH
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale:
            return f"{x / scale:,.{digits}f}{suffix}"
    return f"{x:,.0f}"


def exact(v: Any) -> str:
    x = num(v)
    if x is None:
        return DASH
    return f"{x:,}" if isinstance(x, int) else f"{x:,.6g}"


def gib(v: Any, digits: int = 1) -> str:
    x = num(v)
    return DASH if x is None else f"{x / GIB:,.{digits}f} GiB"


def to_gib(v: Any) -> float | None:
    x = num(v)
    return None if x is None else x / GIB


def flops(v: Any, digits: int = 1) -> str:
    x = num(v)
    if x is None:
        return DASH
    for scale, name in ((1e24, "YFLOP"), (1e21, "ZFLOP"), (1e18, "EFLOP"), (1e15, "PFLOP"),
                        (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")):
        if abs(x) >= scale:
            return f"{x / scale:,.{digits}f} {name}"
    return f"{x:,.0f} FLOP"


def sci(v: Any) -> str:
    x = num(v)
    return DASH if x is None else f"{x:.3g}"


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power10(v: Any, unit: str = "") -> str:
    """``8.29e22`` → ``8.29 × 10²²`` (for totals too large for any SI prefix to help)."""
    x = num(v)
    if x is None:
        return DASH
    if x == 0:
        return f"0 {unit}".strip()
    mant, _, exp = f"{x:.2e}".partition("e")
    return f"{mant} × 10{str(int(exp)).translate(_SUP)} {unit}".strip()


def usd(v: Any) -> str:
    x = num(v)
    if x is None:
        return DASH
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.2f}M"
    return f"${x:,.0f}" if abs(x) >= 100 else f"${x:,.2f}"


def duration(seconds: Any) -> str:
    x = num(seconds)
    if x is None:
        return DASH
    for scale, name in ((365.25 * 86400, "years"), (86400, "days"), (3600, "h"), (60, "min")):
        if abs(x) >= scale:
            return f"{x / scale:,.1f} {name}"
    return f"{x:,.2f} s"


def rate(v: Any, unit: str = "tok/s") -> str:
    x = num(v)
    if x is None:
        return DASH
    return f"{x:,.0f} {unit}" if abs(x) >= 100 else f"{x:,.1f} {unit}"


def yes_no(v: Any) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "no"
    return DASH


def pct(part: Any, whole: Any) -> str:
    a, b = num(part), num(whole)
    if a is None or not b:
        return DASH
    return f"{100 * a / b:.1f}%"


def label(key: str) -> str:
    """``kv_cache`` → ``KV cache``; keys read as plain words."""
    special = {"kv_cache": "KV cache", "lm_head": "LM head", "ffn": "FFN", "mtp": "MTP",
               "dense_ffn": "dense FFN", "routed_experts": "routed experts",
               "shared_experts": "shared experts", "master_weights": "master weights"}
    if key in special:
        return special[key]
    return key.replace("_", " ")


def first(d: Any, *paths: str) -> Any:
    """The first of ``paths`` present in ``d`` (report keys still settling: ``cost`` vs
    ``cost_usd``); None if none is."""
    for p in paths:
        v = get(d, p)
        if v is not None:
            return v
    return None


def numeric_parts(d: Any, skip: tuple[str, ...] = ("total",)) -> dict[str, float]:
    """The numeric leaves of a flat breakdown dict (nested ``{"total": x}`` counts as x)."""
    if not isinstance(d, Mapping):
        return {}
    out = {}
    for k, v in d.items():
        if k in skip:
            continue
        x = num(v)
        if x is not None:
            out[k] = x
    return out


def count(v: Any) -> str:
    x = num(v)
    return DASH if x is None else f"{x:,.0f}"

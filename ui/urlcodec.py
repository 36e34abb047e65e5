"""The app's state ⇄ URL query parameters: a pure, round-trip-tested codec (no streamlit).

A shared link carries exactly what the sidebar holds:

* ``model`` — a preset slug, or ``custom`` for an uploaded/pasted config;
* ``a.<field>`` — architecture fields: the edits relative to the preset, or (``custom``) the
  whole spec; MLA / MoA sub-fields as ``a.mla.<field>`` / ``a.moa.<field>`` (``a.mla=none``
  removes the block); layer-index tuples as compact ranges (``0-31``, ``1,3,5-9``);
* ``<option>`` — every workload option that differs from its default (``batch=8``).

``decode`` never raises: a malformed or unknown parameter is dropped (the default applies) and a
message says so, naming the parameter. Values are type-checked here; range checks
(``batch >= 1``) use the options' own validation, so the rules live in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from estimator.errors import EstimatorError
from estimator.limits import (
    MAX_LAYERS,
    MAX_LINK_PARAMS,
    MAX_LINK_VALUE_CHARS,
    MAX_NOTES,
    MAX_NUMBER_CHARS,
)
from estimator.options import OPTION_FIELDS, make_options
from estimator.spec import MLA, Mixer, MoA, ModelSpec

DEFAULT_PRESET = "mixtral-8x7b"
CUSTOM = "custom"
MODEL_KEY = "model"
ARCH_PREFIX = "a."
MAX_PARAMS = MAX_LINK_PARAMS  # a URL with more parameters than the whole state has is not ours
MAX_VALUE_CHARS = MAX_LINK_VALUE_CHARS


class TooLarge(ValueError):
    """A link value over its budget (estimator/limits.py): refused before it is expanded."""


@dataclass
class State:
    """What the sidebar holds: a preset (or ``custom``), architecture fields, option overrides.

    ``arch`` maps spec field names to values (``mla``/``moa`` map to a dict of sub-fields or
    None); ``options`` holds only options that differ from their defaults.
    """

    model: str = DEFAULT_PRESET
    arch: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# field types (read from the dataclasses, so a new spec/option field is picked up automatically)
# ----------------------------------------------------------------------------------------------

def _kind(annotation: str) -> str:
    a = str(annotation).replace(" ", "")
    if a.startswith("tuple[int"):
        return "layers"
    if a.startswith("tuple[str"):
        return "strings"
    if a in ("int|None", "Optional[int]"):
        return "int?"
    if a in ("MLA|None", "MoA|None", "Mixer|None"):
        return "block"
    if a == "bool":
        return "bool"
    if a == "int":
        return "int"
    if a == "float":
        return "float"
    return "str"  # str and the Literal aliases (NormType, QKNorm)


SPEC_KINDS: dict[str, str] = {f.name: _kind(f.type) for f in dataclasses.fields(ModelSpec)}
BLOCK_KINDS: dict[str, dict[str, str]] = {
    "mla": {f.name: _kind(f.type) for f in dataclasses.fields(MLA)},
    "moa": {f.name: _kind(f.type) for f in dataclasses.fields(MoA)},
    "mixer": {f.name: _kind(f.type) for f in dataclasses.fields(Mixer)},
}
OPTION_KINDS: dict[str, str] = {
    name: {bool: "bool", int: "int", float: "float"}.get(f.metadata["kind"], "str")
    for name, f in OPTION_FIELDS.items()}
OPTION_DEFAULTS: dict[str, Any] = {name: f.default for name, f in OPTION_FIELDS.items()}


# ----------------------------------------------------------------------------------------------
# scalar encoding
# ----------------------------------------------------------------------------------------------

def format_layers(idx: tuple[int, ...] | list[int]) -> str:
    """``(0, 1, 2, 5, 7, 8)`` → ``"0-2,5,7-8"``; an empty tuple → ``""``."""
    out: list[str] = []
    xs = sorted(idx)
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ",".join(out)


def parse_layers(text: str) -> tuple[int, ...]:
    """Inverse of :func:`format_layers`; raises ``ValueError`` on anything else.

    Ranges are counted before they are expanded: more than :data:`MAX_LAYERS` indices in all
    (``0-100000,0-100000,...``) is :class:`TooLarge`, whatever the text's length."""
    t = text.strip()
    if not t:
        return ()
    spans: list[tuple[int, int]] = []
    total = 0
    for part in t.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        a = _small_int(lo)
        b = _small_int(hi) if dash else a
        if a < 0 or b < a:
            raise ValueError(part)
        total += b - a + 1
        if total > MAX_LAYERS:
            raise TooLarge(f"more than {MAX_LAYERS:,} layer indices")
        spans.append((a, b))
    return tuple(i for a, b in spans for i in range(a, b + 1))


def _small_int(text: str) -> int:
    t = text.strip()
    if len(t) > MAX_NUMBER_CHARS:
        raise TooLarge(f"a number of {len(t):,} characters (limit {MAX_NUMBER_CHARS})")
    return int(t)


def _enc(value: Any, kind: str) -> str:
    if value is None:
        return "none"
    if kind == "bool":
        return "1" if value else "0"
    if kind == "layers":
        return format_layers(value)
    if kind == "strings":
        return "|".join(value)
    if kind == "float":
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(value)


def _dec(text: str, kind: str) -> Any:
    """Parse one value; raises ``ValueError`` when ``text`` is not a ``kind``."""
    t = text.strip()
    if kind == "bool":
        low = t.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError("not true/false")
    if kind in ("int", "int?"):
        if kind == "int?" and t.lower() in ("none", "null", ""):
            return None
        return _small_int(t)
    if kind == "float":
        if len(t) > MAX_NUMBER_CHARS:
            raise TooLarge(f"a number of {len(t):,} characters (limit {MAX_NUMBER_CHARS})")
        v = float(t)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("not finite")
        return v
    if kind == "layers":
        return parse_layers(t)
    if kind == "strings":
        out = tuple(s for s in t.split("|") if s)
        if len(out) > MAX_NOTES:
            raise TooLarge(f"more than {MAX_NOTES} entries")
        return out
    return t


# ----------------------------------------------------------------------------------------------
# encode / decode
# ----------------------------------------------------------------------------------------------

def encode(state: State) -> dict[str, str]:
    """The query parameters for ``state`` (defaults left out, so links stay short)."""
    out: dict[str, str] = {MODEL_KEY: state.model}
    for name in sorted(state.arch):
        value = state.arch[name]
        kind = SPEC_KINDS.get(name)
        if kind is None:
            continue
        if kind == "block":
            if value is None:
                out[f"{ARCH_PREFIX}{name}"] = "none"
            else:
                for sub, sk in BLOCK_KINDS[name].items():
                    if sub in value:
                        out[f"{ARCH_PREFIX}{name}.{sub}"] = _enc(value[sub], sk)
            continue
        out[f"{ARCH_PREFIX}{name}"] = _enc(value, kind)
    for name in sorted(state.options):
        if name in OPTION_KINDS and state.options[name] != OPTION_DEFAULTS[name]:
            out[name] = _enc(state.options[name], OPTION_KINDS[name])
    return out


def decode(params: Mapping[str, Any], presets: list[str] | tuple[str, ...]
           ) -> tuple[State, list[str]]:
    """``(state, messages)`` from query parameters; never raises.

    ``presets`` are the known slugs. Each malformed parameter is dropped with a message naming
    it; an unknown model falls back to :data:`DEFAULT_PRESET`.
    """
    messages: list[str] = []
    state = State()
    if not params:
        return state, messages
    if len(params) > MAX_PARAMS:
        return state, [f"the link has {len(params)} parameters (limit {MAX_PARAMS}); "
                       "showing the defaults"]
    items: dict[str, str] = {}
    for k, v in params.items():
        if isinstance(v, (list, tuple)):  # repeated key: the last one wins, as st.query_params
            v = v[-1] if v else ""
        v = str(v)
        if len(v) > MAX_VALUE_CHARS:
            messages.append(f"'{_clip(k)}' is too long; ignored")
            continue
        items[str(k)] = v

    model = items.pop(MODEL_KEY, DEFAULT_PRESET).strip().lower()
    if model != CUSTOM and model not in presets:
        messages.append(f"unknown model '{_clip(model)}' in the link; showing "
                        f"{DEFAULT_PRESET}")
        model = DEFAULT_PRESET
    state.model = model

    for key, text in items.items():
        if key.startswith(ARCH_PREFIX):
            _decode_arch(key[len(ARCH_PREFIX):], text, state, messages)
        elif key in OPTION_KINDS:
            try:
                value = _dec(text, OPTION_KINDS[key])
                make_options(**{key: value})  # the option's own range/choice check
            except ValueError as e:  # EstimatorError is a ValueError
                why = (e.problem if isinstance(e, EstimatorError) else
                       f"too large: {e}" if isinstance(e, TooLarge) else "malformed value")
                messages.append(f"option '{key}={_clip(text)}' ignored ({why}); using the "
                                f"default {OPTION_DEFAULTS[key]!r}")
                continue
            if value != OPTION_DEFAULTS[key]:
                state.options[key] = value
        else:
            messages.append(f"unknown link parameter '{_clip(key)}' ignored")
    return state, messages


def _decode_arch(name: str, text: str, state: State, messages: list[str]) -> None:
    head, _, sub = name.partition(".")
    kind = SPEC_KINDS.get(head)
    if kind is None or (sub and kind != "block"):
        messages.append(f"unknown architecture field '{_clip(name)}' ignored")
        return
    try:
        if kind == "block":
            if not sub:
                if text.strip().lower() not in ("none", "null", ""):
                    raise ValueError("only 'none' may be given without a sub-field")
                state.arch[head] = None
                return
            sk = BLOCK_KINDS[head].get(sub)
            if sk is None:
                raise KeyError(sub)
            block = state.arch.get(head)
            if not isinstance(block, dict):
                block = {}
                state.arch[head] = block
            block[sub] = _dec(text, sk)
            return
        state.arch[head] = _dec(text, kind)
    except TooLarge as e:
        messages.append(f"architecture field '{_clip(name)}' is too large ({e}); ignored")
    except (ValueError, KeyError):
        messages.append(f"architecture field '{_clip(name)}={_clip(text)}' is malformed; "
                        "ignored")


def _clip(text: str, limit: int = 40) -> str:
    text = str(text).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------------------------
# state ⇄ spec
# ----------------------------------------------------------------------------------------------

def spec_fields(spec: ModelSpec) -> dict[str, Any]:
    """A spec as the codec's ``arch`` dict (blocks as dicts, tuples kept)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        v = getattr(spec, f.name)
        if isinstance(v, (MLA, MoA, Mixer)):
            v = dataclasses.asdict(v)
        out[f.name] = v
    return out


def diff_fields(base: ModelSpec, edited: ModelSpec) -> dict[str, Any]:
    """The fields of ``edited`` that differ from ``base`` (``notes`` ignored)."""
    a, b = spec_fields(base), spec_fields(edited)
    return {k: v for k, v in b.items() if k != "notes" and a.get(k) != v}


def custom_fields(spec: ModelSpec) -> dict[str, Any]:
    """A whole spec as ``arch``, fields at their dataclass default left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        if f.name == "notes":
            continue
        v = getattr(spec, f.name)
        if isinstance(v, (MLA, MoA, Mixer)):
            out[f.name] = dataclasses.asdict(v)
        elif f.default is dataclasses.MISSING or v != f.default:
            out[f.name] = v
    return out


def apply_arch(base: ModelSpec | None, arch: Mapping[str, Any]) -> ModelSpec:
    """``base`` with ``arch`` applied (or, with no base, a spec built from ``arch`` alone).

    Raises :class:`EstimatorError` naming the field for an impossible combination.
    """
    from estimator.presets import spec_from_fields

    changes: dict[str, Any] = {}
    for k, v in arch.items():
        if k in ("mla", "moa", "mixer") and isinstance(v, Mapping):
            cls = {"mla": MLA, "moa": MoA, "mixer": Mixer}[k]
            cur = getattr(base, k) if base is not None else None
            merged = dataclasses.asdict(cur) if cur is not None else {}
            merged.update(v)
            try:
                v = cls(**merged)
            except TypeError:
                missing = sorted(set(BLOCK_KINDS[k]) - set(merged))
                raise EstimatorError(f"{k}.{missing[0] if missing else '?'}", None,
                                     "required sub-field is missing") from None
        changes[k] = v
    if base is None:
        d = dict(changes)
        d.setdefault("model_type", CUSTOM)
        try:
            return spec_from_fields(d)
        except TypeError as e:
            raise EstimatorError("model", CUSTOM, f"incomplete architecture: {e}") from None
    return base.replace(**changes) if changes else base

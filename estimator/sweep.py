"""Sweeps: one row of headline figures per grid point.

A grid maps field names to value lists; the sweep is their Cartesian product. A field may be

* a workload option (``batch``, ``seq_len``, ``tp``, ... — :mod:`estimator.options`);
* a Hugging Face config key (``num_local_experts``, ``num_experts_per_tok``,
  ``moe_intermediate_size``, ``n_shared_experts``, ``first_k_dense_replace`` ...): for a model
  loaded from a config.json the key is set in that config and the model re-imported, so family
  rules (which layers are MoE, shared-expert widths) apply exactly as for a real file;
* an estimator field name (``num_experts``, ``num_hidden_layers`` ...): mapped to the model's own
  HF key when it has a config, otherwise applied with :meth:`ModelSpec.replace`.

A grid point that makes an impossible model (k > E, say) becomes a row with an ``error`` column
instead of aborting the sweep.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from . import ckpt_quant
from .errors import EstimatorError
from .hf import ALIASES, spec_from_hf_config
from .limits import (
    MAX_ARRAY_SWEEP_POINTS,
    MAX_NUMBER_CHARS,
    MAX_SWEEP_POINTS,
    MAX_SWEEP_VALUES,
)
from .options import OPTION_FIELDS, Options, make_options
from .params import count_params
from .presets import Model, load_model
from .report import _estimate
from .spec import fields_of

_NONE = object()
MAX_POINTS = MAX_SWEEP_POINTS  # rows: refused before the first point is estimated
MAX_ARRAY_POINTS = MAX_ARRAY_SWEEP_POINTS  # columns(): likewise

# estimator name → HF keys that carry it, beyond ALIASES (first present key wins)
_SPEC_TO_HF = {
    "num_shared_experts": ("n_shared_experts",),
    "hidden_size": ("hidden_size", "d_model"),
    "num_hidden_layers": ("num_hidden_layers", "n_layers"),
    "num_attention_heads": ("num_attention_heads", "n_heads"),
}


def parse_value(text: str) -> Any:
    t = text.strip()
    if len(t) > MAX_NUMBER_CHARS:
        raise EstimatorError("--vary", t, f"a value is limited to {MAX_NUMBER_CHARS} characters")
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["num_local_experts=8,16", "batch=1,8"]`` → grid dict; errors name the item."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise EstimatorError("--vary", item, "expected FIELD=v1,v2,...")
        k, _, vals = item.partition("=")
        k = k.strip()
        if vals.count(",") >= MAX_SWEEP_VALUES:
            raise EstimatorError(f"--vary {k[:40]}", f"{vals.count(',') + 1:,} values",
                                 f"too many values (limit {MAX_SWEEP_VALUES:,} per field)")
        values = [parse_value(v) for v in vals.split(",") if v.strip()]
        if not k or not values:
            raise EstimatorError("--vary", item, "expected FIELD=v1,v2,...")
        grid[k] = values
    if not grid:
        raise EstimatorError("--vary", None, "give at least one --vary FIELD=v1,v2,...")
    return grid


def _hf_key(cfg: Mapping[str, Any], name: str) -> str | None:
    if name in cfg:
        return name
    for alias in ALIASES.get(name, ()) + _SPEC_TO_HF.get(name, ()):
        if alias in cfg:
            return alias
    return None


def _classify(model: Model, field: str) -> str:
    if field in OPTION_FIELDS:
        return "option"
    cfg = model.hf_config
    if cfg is not None:
        inner = cfg.get("text_config") if cfg.get("model_type") == "llama4" else cfg
        ffn = cfg.get("ffn_config") if cfg.get("model_type") == "dbrx" else None
        if _hf_key(inner, field) or (ffn and _hf_key(ffn, field)):
            return "hf"
        if field in _known_hf_keys(cfg):
            return "hf"
    if field in fields_of():
        return "spec"
    raise EstimatorError(field, None, "not an option, a config key of this model, or an "
                                      "architecture field")


def _known_hf_keys(cfg: Mapping[str, Any]) -> set[str]:
    from .hf import DEFAULTS

    mt = cfg.get("model_type")
    mt = "llama4_text" if mt == "llama4" else mt
    return set(DEFAULTS.get(mt, {}))


def _periodic(values: Sequence[Any], n: int) -> list[Any]:
    """``values`` resized to ``n`` by repeating its shortest period (``[s, f, s, f]`` → period
    2), so a layer pattern such as gpt-oss's alternating sliding/full survives a depth change."""
    m = len(values)
    period = next(p for p in range(1, m + 1)
                  if all(values[i] == values[i % p] for i in range(m)))
    return [values[i % period] for i in range(n)]


def _resize_layer_lists(cfg: dict[str, Any], old_L: int, new_L: Any) -> None:
    """Per-layer lists in a config.json follow a change of ``num_hidden_layers`` (in place).

    Pattern lists (``layer_types``, ``no_rope_layers``) repeat their period; index lists
    (``mlp_only_layers``) drop indices past the new depth; an explicit ``moe_layers`` that is the
    interleave pattern is re-derived, any other is truncated.
    """
    if not isinstance(new_L, int) or isinstance(new_L, bool) or new_L < 1:
        return  # the importer rejects it, naming the field
    for key in ("layer_types", "no_rope_layers"):
        v = cfg.get(key)
        if isinstance(v, list) and v and len(v) != new_L:
            cfg[key] = _periodic(v, new_L)
    v = cfg.get("mlp_only_layers")
    if isinstance(v, list):
        cfg["mlp_only_layers"] = [i for i in v if isinstance(i, int) and i < new_L]
    v = cfg.get("moe_layers")
    if isinstance(v, list):
        step = cfg.get("interleave_moe_layer_step") or 1
        if v == list(range(step - 1, old_L, step)):
            cfg["moe_layers"] = list(range(step - 1, new_L, step))
        else:
            cfg["moe_layers"] = [i for i in v if isinstance(i, int) and i < new_L]


def _spec_changes(spec, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Estimator-name changes plus what they imply for a spec without a config.json.

    A new depth keeps "every layer is MoE" (or dense) and a sliding pattern's period; a new
    number of shared experts keeps each shared expert's width (DeepSeek's convention: the shared
    MLP is ``n_shared × moe_intermediate_size`` wide).
    """
    out = dict(changes)
    L = out.get("num_hidden_layers")
    if isinstance(L, int) and not isinstance(L, bool) and L > 0 and L != spec.num_hidden_layers:
        old = spec.num_hidden_layers
        if "moe_layers" not in out and spec.moe_layers:
            flags = _periodic([i in spec.moe_layers for i in range(old)], L)
            out["moe_layers"] = tuple(i for i in range(L) if flags[i])
        for key in ("sliding_window_layers", "mixer_layers", "mixerless_layers",
                    "ffnless_layers"):  # hybrids keep their schedule's period
            if key not in out and getattr(spec, key):
                flags = _periodic([i in getattr(spec, key) for i in range(old)], L)
                out[key] = tuple(i for i in range(L) if flags[i])
    E = out.get("num_experts")
    if (isinstance(E, int) and E > 0 and not spec.num_experts and "moe_layers" not in out):
        # a dense model turned MoE: every layer (its expert width must be given too)
        L = out.get("num_hidden_layers", spec.num_hidden_layers)
        if isinstance(L, int) and L > 0:
            out["moe_layers"] = tuple(range(L))
    n = out.get("num_shared_experts")
    if isinstance(n, int) and "shared_expert_intermediate_size" not in out:
        each = (spec.shared_expert_intermediate_size // spec.num_shared_experts
                if spec.num_shared_experts else spec.moe_intermediate_size)
        out["shared_expert_intermediate_size"] = n * each if n > 0 else 0
        if n == 0:
            out.setdefault("shared_expert_gate", False)
    return out


def _apply_hf(cfg: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(cfg)
    is_l4 = cfg.get("model_type") == "llama4"
    inner = dict(out["text_config"]) if is_l4 else out
    ffn = dict(inner.get("ffn_config") or {}) if cfg.get("model_type") == "dbrx" else None
    for k, v in changes.items():
        if ffn is not None and _hf_key(ffn, k):
            ffn[_hf_key(ffn, k)] = v
        else:
            key = _hf_key(inner, k) or k
            if key in ("num_hidden_layers", "n_layers"):
                _resize_layer_lists(inner, inner.get(key), v)
            inner[key] = v
    if ffn is not None:
        inner["ffn_config"] = ffn
    if is_l4:
        out["text_config"] = inner
    return out


def headline(model: Model, opts: Options) -> dict[str, Any]:
    """The figures a sweep row carries (from the same ``estimate()`` the report uses, less the
    serving section, which no row reads)."""
    return headline_of(_estimate(model, opts, with_serving=False))


def headline_of(report) -> dict[str, Any]:
    """Headline figures of a report (a row of a sweep or of the dense-vs-MoE comparison):
    total and active parameters, forward and training FLOPs per token, inference bytes per GPU,
    KV-cache bytes, whether inference fits, training peak bytes per GPU, whether training fits,
    training GPU-hours and cost (:meth:`~estimator.report.Report.headline`)."""
    return report.headline()


#: The layout of every sweep row unless the options set one (the report's default is the
#: automatic layout, a search per point; a sweep compares points at one layout).
SWEEP_LAYOUT = {"tp": 1, "pp": 1, "ep": 1}


def _check_grid(model: Any, grid: Any, options: Mapping[str, Any], max_points: int
                ) -> tuple[Model, Options, list[str], dict[str, str], int]:
    """The loaded model, base options, fields, their kinds and the number of points; refuses a
    bad grid, or one above ``max_points``, before the first point (errors name the field)."""
    m = load_model(model)
    # rows keep one layout for every point: one GPU unless the options set tp/pp/ep (0 = the
    # automatic serving layout, a search per point, is accepted when asked for explicitly)
    base_opts = make_options(**ckpt_quant.resolve_kwargs(m, {**SWEEP_LAYOUT, **options}))
    if not isinstance(grid, Mapping) or not grid:
        raise EstimatorError("grid", grid, "must map field names to lists of values")
    fields = list(grid)
    kinds = {f: _classify(m, f) for f in fields}
    n = 1
    for f in fields:
        if not isinstance(grid[f], (list, tuple)) or not grid[f]:
            raise EstimatorError(f, grid[f], "needs a non-empty list of values")
        if len(grid[f]) > MAX_SWEEP_VALUES:
            raise EstimatorError(f, f"{len(grid[f]):,} values",
                                 f"too many values (limit {MAX_SWEEP_VALUES:,} per field)")
        bad = next((v for v in grid[f] if not isinstance(v, (int, float, str, type(None)))),
                   _NONE)
        if bad is not _NONE:
            raise EstimatorError(f, bad, "values must be numbers, strings, true/false or null")
        n *= len(grid[f])
    if n > max_points:
        sizes = " × ".join(f"{f[:40]} {len(grid[f]):,}" for f in fields)
        raise EstimatorError("grid", f"{n:,} points ({sizes})",
                             f"too many points (limit {max_points:,}"
                             + ("; sweep.columns streams up to "
                                f"{MAX_ARRAY_POINTS:,} as numpy arrays)"
                                if max_points < MAX_ARRAY_POINTS else ")"))
    return m, base_opts, fields, kinds, n


def sweep(model: Any, grid: Mapping[str, Sequence[Any]], **options: Any) -> list[dict[str, Any]]:
    """One row per point of the Cartesian product of ``grid`` (see module docstring), in grid
    order (the last field varies fastest). Evaluated with arrays where the varied fields allow
    (:func:`columns`); every row equals the scalar ``estimate()``'s headline."""
    m, base_opts, fields, kinds, n = _check_grid(model, grid, options, MAX_POINTS)
    rows: list[dict[str, Any] | None] = [None] * n
    names = ("error", *_vector().COLUMNS)
    for idx, cols in _evaluate_grid(m, base_opts, grid, fields, kinds):
        values = [cols[c].tolist() for c in names]
        for k, gi in enumerate(idx.tolist()):
            rows[gi] = {c: v[k] for c, v in zip(names, values)}
    shape = [len(grid[f]) for f in fields]
    out = []
    for gi, point in enumerate(itertools.product(*(grid[f] for f in fields))):
        row = dict(zip(fields, point))
        r = rows[gi]
        if r["error"]:
            row["error"] = r["error"]
        else:
            row.update({c: r[c] for c in names[1:]})
            row["error"] = ""
        out.append(row)
    assert len(out) == n == math.prod(shape)
    return out


def columns(model: Any, grid: Mapping[str, Sequence[Any]], chunk: int = 1 << 16,
            speed: bool = False, **options: Any):
    """The sweep of ``grid`` as numpy columns, streamed: yields dicts of arrays of at most
    ``chunk`` points — ``index`` (the point's position in grid order, as :func:`sweep` numbers
    its rows), one column per grid field (its values), ``error`` ("" where the point is valid)
    and the headline columns (:data:`estimator.vector.COLUMNS`; ``None`` where not
    applicable); with ``speed=True`` also the serving speed at the workload's batch
    (:data:`estimator.vector.SPEED_COLUMNS`: prefill seconds, decode tokens/s in all and per
    user). Up to :data:`~estimator.limits.MAX_ARRAY_SWEEP_POINTS` points; memory stays at a few
    chunks whatever the grid's size. Imports numpy (``import estimator`` does not)."""
    np = _numpy()
    m, base_opts, fields, kinds, _ = _check_grid(model, grid, options, MAX_ARRAY_POINTS)
    shape = [len(grid[f]) for f in fields]
    # typed once per field (≤ MAX_SWEEP_VALUES values), not once per point of every chunk
    values = {f: _typed(np, np.asarray(grid[f], dtype=object)) for f in fields}
    for idx, cols in _evaluate_grid(m, base_opts, grid, fields, kinds, chunk, speed):
        per_field = np.unravel_index(idx, shape)
        out = {"index": idx}
        for f, vi in zip(fields, per_field):
            out[f] = values[f][vi]
        out.update(cols)
        yield out


def _typed(np, a):
    """An object array of grid values as int64 or float64 when every value is one."""
    try:
        if all(type(v) is int for v in a):
            return a.astype(np.int64)
        if all(type(v) in (int, float) for v in a):
            return a.astype(np.float64)
    except OverflowError:
        pass
    return a


def _numpy():
    import numpy as np  # the vectorized path only: `import estimator` stays numpy-free

    return np


def _vector():
    from . import vector  # imports numpy

    return vector


def _evaluate_grid(m: Model, base_opts: Options, grid, fields: list[str], kinds, chunk=1 << 16,
                   speed: bool = False):
    """Yields ``(global indices, columns)`` covering every point of the grid once.

    Fields that :mod:`estimator.vector` evaluates with arrays (spec fields whose change alters
    only :data:`~estimator.vector.SPEC_FIELDS`, options in
    :data:`~estimator.vector.OPTION_FIELDS`) are varied inside a group; every combination of
    the other fields is a group, built once with the scalar path (:func:`_variant`). A group
    whose values cannot be mapped onto the base, and every point a formula cannot take as an
    array, takes the scalar path (:func:`headline`), point by point."""
    if "auto" in grid.get("dtype", ()):  # dtype=auto: the checkpoint's own (ckpt_quant.resolve)
        auto = ckpt_quant.resolve(m, "auto")[0]
        grid = {**grid, "dtype": [auto if v == "auto" else v for v in grid["dtype"]]}
    np = _numpy()
    vector = _vector()
    shape = [len(grid[f]) for f in fields]
    vfields = _vector_fields(m, base_opts, grid, fields, kinds)
    sfields = [f for f in fields if f not in vfields]
    pos = {f: i for i, f in enumerate(fields)}
    vshape = [len(grid[f]) for f in vfields]
    nv = math.prod(vshape)
    variants: dict[tuple, Model | EstimatorError] = {}
    names = ("error", *vector.COLUMNS, *(vector.SPEED_COLUMNS if speed else ()))

    def scalar_rows(point_of, idx) -> dict[str, Any]:
        rows = []
        for j in idx.tolist():
            rows.append(_scalar_row(m, base_opts, point_of(j), fields, kinds, variants, speed))
        return {c: np.array([r[c] for r in rows], dtype=object) for c in names}

    for s_idx in itertools.product(*(range(len(grid[f])) for f in sfields)):
        s_point = {f: grid[f][i] for f, i in zip(sfields, s_idx)}

        def point_of(j: int, s_point=s_point) -> dict[str, Any]:
            vi = np.unravel_index(j, vshape) if vfields else ()
            return {**s_point, **{f: grid[f][int(i)] for f, i in zip(vfields, vi)}}

        def global_index(js, s_idx=s_idx):
            vi = np.unravel_index(js, vshape) if vfields else ()
            per = [None] * len(fields)
            for f, i in zip(sfields, s_idx):
                per[pos[f]] = np.full(len(js), i)
            for f, i in zip(vfields, vi):
                per[pos[f]] = i
            return np.ravel_multi_index(per, shape)

        group = _group(m, base_opts, s_point, vfields, grid, kinds, variants) if vfields else None
        for a in range(0, nv, chunk):
            js = np.arange(a, min(a + chunk, nv))
            if group is None:
                cols = scalar_rows(point_of, js)
            else:
                gm, gopts, gpu, spec_tab, opt_tab = group
                vi = np.unravel_index(js, vshape)
                spec_cols = {sf: tab[vi[vfields.index(f)]] for f, per in spec_tab.items()
                             for sf, tab in per.items()}
                opt_cols = {f: tab[vi[vfields.index(f)]] for f, tab in opt_tab.items()}
                cols = vector.evaluate(gm, gopts, gpu, spec_cols, opt_cols, len(js),
                                       lambda idx, js=js: scalar_rows(point_of, js[idx]), speed)
                if a == 0 and not _agrees(cols, scalar_rows(point_of, js[-1:]), len(js) - 1):
                    cols = scalar_rows(point_of, js)  # not expected (tests/test_vector.py)
            yield global_index(js), cols


def _agrees(cols, ref, k: int) -> bool:
    """Row ``k`` of ``cols`` equals the scalar row ``ref`` (floats within 1e-12 relative)."""
    for c, v in ref.items():
        a, b = cols[c][k], v[0]
        if isinstance(b, float) and isinstance(a, (float, int)) and not isinstance(a, bool):
            if abs(a - b) > 1e-12 * abs(b):
                return False
        elif a != b and not (a is None and b is None):
            return False
    return True


def _vector_fields(m: Model, base_opts: Options, grid, fields, kinds) -> list[str]:
    """The fields :mod:`estimator.vector` can vary with arrays on this model: numeric options
    of :data:`~estimator.vector.OPTION_FIELDS` whose every value is valid, and architecture
    fields whose every value changes only :data:`~estimator.vector.SPEC_FIELDS` of the model
    (checked value by value on the base model; no two fields changing the same spec field)."""
    vector = _vector()
    out, taken = [], set()
    for f in fields:
        vals = grid[f]
        if kinds[f] == "option":
            if f in vector.OPTION_FIELDS and all(_valid_option(base_opts, f, v) for v in vals):
                out.append(f)
            continue
        others = [x for x in fields if x != f and kinds[x] != "option"]
        changed = None
        probes: dict = {}
        for point, ref in _references(m, {}, others, grid, kinds, probes):  # values fit on it
            changed = _spec_diffs(m, point, ref, f, vals, kinds, probes)
            if changed is not None:
                break
        if changed is None or changed & taken:
            continue
        taken |= changed
        out.append(f)
    return out


def _valid_option(base_opts: Options, f: str, v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        base_opts.replace(**{f: v})
    except EstimatorError:
        return False
    return True


def _spec_diffs(m: Model, point: dict, ref: Model, f: str, vals, kinds, variants,
                out: dict | None = None) -> set[str] | None:
    """The spec fields that setting ``f`` to each of ``vals`` changes on ``ref`` (the variant
    of ``m`` at ``point``; each value's model is built from ``m`` with ``point`` and ``f``
    together, as a grid point is). None when a value fails, or changes anything outside
    :data:`~estimator.vector.SPEC_FIELDS`; ``out[v]``: the changes of value ``v``."""
    vector = _vector()
    base = ref.spec
    names = [x for x in fields_of() if x not in ("name", "notes")]
    changed: set[str] = set()
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, int):
            return None
        try:
            mm = _cached_variant(m, {**point, f: v}, kinds, variants)
        except EstimatorError:
            return None
        diff = {x: getattr(mm.spec, x) for x in names if getattr(mm.spec, x) != getattr(base, x)}
        if not set(diff) <= set(vector.SPEC_FIELDS):
            return None
        changed |= set(diff)
        if out is not None:
            out[v] = diff
    return changed


def _group(m, base_opts, s_point, vfields, grid, kinds, variants):
    """``(model, options, gpu, spec tables, option tables)`` of one group: the model and
    options with the group's fixed values, and per varied field the arrays of what each of its
    values sets (indexed like ``grid[field]``). None when the group takes the scalar path."""
    np = _numpy()
    from .hardware import get_gpu

    arch = {f: v for f, v in s_point.items() if kinds[f] != "option"}
    opt = {f: v for f, v in s_point.items() if kinds[f] == "option"}
    try:
        gopts = base_opts.replace(**opt) if opt else base_opts
        gpu = get_gpu(gopts.gpu)
    except EstimatorError:
        return None
    varch = [f for f in vfields if kinds[f] != "option"]
    refs = list(_references(m, arch, varch, grid, kinds, variants))
    if not refs:
        return None
    gm = refs[0][1]
    names = [x for x in fields_of() if x not in ("name", "notes", *_vector().SPEC_FIELDS)]
    refs = [(p, r) for p, r in refs
            if all(getattr(r.spec, x) == getattr(gm.spec, x) for x in names)]
    spec_tab, opt_tab = {}, {}
    for f in vfields:
        if kinds[f] == "option":
            opt_tab[f] = np.asarray(grid[f])
            continue
        # each field's values on a reference they all exist on (top-k beside the most
        # experts, experts beside the least top-k); the fields act independently (checked
        # by the caller's spot check and tests/test_vector.py)
        for point, ref in refs:
            per_value: dict[Any, dict[str, Any]] = {}
            changed = _spec_diffs(m, point, ref, f, grid[f], kinds, variants, per_value)
            if changed is not None:
                break
        else:
            return None
        spec_tab[f] = {sf: np.asarray([per_value[v].get(sf, getattr(ref.spec, sf))
                                       for v in grid[f]], dtype=np.int64) for sf in changed}
    return gm, gopts, gpu, spec_tab, opt_tab


def _references(m, arch, varied, grid, kinds, variants):
    """``(point, model)`` with the fixed values ``arch`` and the varied architecture fields at
    a reference value — their first, then their last, then the base model's own — that exist
    (a top-k above the base's expert count exists only beside a larger one)."""
    for pick in (0, -1, None):
        point = dict(arch)
        if pick is not None:
            point.update({f: grid[f][pick] for f in varied})
        try:
            yield point, _cached_variant(m, point, kinds, variants)
        except EstimatorError:
            continue


def _cached_variant(m, arch, kinds, variants):
    key = tuple(sorted(arch.items(), key=lambda kv: kv[0]))
    mm = variants.get(key)
    if mm is None:
        try:
            mm = _variant(m, arch, kinds)
        except EstimatorError as e:
            mm = e
        variants[key] = mm
    if isinstance(mm, EstimatorError):
        raise mm
    return mm


def _scalar_row(m, base_opts, point, fields, kinds, variants, speed=False) -> dict[str, Any]:
    """One grid point by the scalar path: ``error`` and the headline figures (None on error);
    ``speed``: also the serving speed at the batch (:func:`estimator.sections.headline_row`,
    equal to the full sections: tests/test_fast_paths.py)."""
    arch = {f: point[f] for f in fields if kinds[f] != "option"}
    opt = {f: point[f] for f in fields if kinds[f] == "option"}
    try:
        mm = _cached_variant(m, arch, kinds, variants)
        opts = base_opts.replace(**opt) if opt else base_opts
        if speed:
            from . import sections
            from .hardware import get_gpu

            return {**sections.headline_row(mm, opts, get_gpu(opts.gpu)), "error": ""}
        return {**headline(mm, opts), "error": ""}
    except EstimatorError as e:
        v = _vector()
        return {"error": str(e),
                **dict.fromkeys((*v.COLUMNS, *(v.SPEED_COLUMNS if speed else ())))}


def _variant(m: Model, changes: Mapping[str, Any], kinds: Mapping[str, str]) -> Model:
    if not changes:
        return m
    hf_changes = {k: v for k, v in changes.items() if kinds[k] == "hf"}
    spec_changes = {k: v for k, v in changes.items() if kinds[k] == "spec"}
    spec = m.spec
    cfg = m.hf_config
    try:
        if hf_changes:
            cfg = _apply_hf(cfg, hf_changes)
            spec = spec_from_hf_config(cfg, name=spec.name)
        if spec_changes:
            spec = spec.replace(**_spec_changes(spec, spec_changes))
    except (TypeError, AttributeError, KeyError, IndexError, OverflowError) as e:
        # a swept value of a type the field cannot hold (a list for a width, say)
        k, v = next(iter(changes.items()))
        raise EstimatorError(k if len(changes) == 1 else "grid point", v,
                             f"not a value this field can take ({type(e).__name__})") from None
    count_params(spec)  # cheap; surfaces impossible shapes now
    return Model(spec=spec, display_name=m.display_name, origin=m.origin, source=m.source,
                 published=m.published, hf_config=cfg)

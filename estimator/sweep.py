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
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import EstimatorError
from .hf import ALIASES, spec_from_hf_config
from .limits import MAX_NUMBER_CHARS, MAX_SWEEP_POINTS, MAX_SWEEP_VALUES
from .options import OPTION_FIELDS, Options, make_options
from .params import count_params
from .presets import Model, load_model
from .spec import fields_of

_NONE = object()
MAX_POINTS = MAX_SWEEP_POINTS  # refused before the first point is estimated

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
        if "sliding_window_layers" not in out and spec.sliding_window_layers:
            flags = _periodic([i in spec.sliding_window_layers for i in range(old)], L)
            out["sliding_window_layers"] = tuple(i for i in range(L) if flags[i])
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
    from .report import _estimate

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


def sweep(model: Any, grid: Mapping[str, Sequence[Any]], **options: Any) -> list[dict[str, Any]]:
    """One row per point of the Cartesian product of ``grid`` (see module docstring)."""
    m = load_model(model)
    # rows keep one layout for every point: one GPU unless the options set tp/pp/ep (0 = the
    # automatic serving layout, a search per point, is accepted when asked for explicitly)
    base_opts = make_options(**{**SWEEP_LAYOUT, **options})
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
    if n > MAX_POINTS:
        raise EstimatorError("grid", f"{n:,} points", f"too many points (limit {MAX_POINTS:,}: "
                                                      "about 10 s and 100 MB)")
    rows = []
    spec_cache: dict[tuple, Model | EstimatorError] = {}
    arch_fields = [f for f in fields if kinds[f] != "option"]
    opt_fields = [f for f in fields if kinds[f] == "option"]
    for values in itertools.product(*(grid[f] for f in fields)):
        point = dict(zip(fields, values))
        row: dict[str, Any] = dict(point)
        arch_key = tuple(point[f] for f in arch_fields)
        try:
            mm = spec_cache.get(arch_key)
            if mm is None:
                try:
                    mm = _variant(m, {f: point[f] for f in arch_fields}, kinds)
                except EstimatorError as e:
                    mm = e
                spec_cache[arch_key] = mm
            if isinstance(mm, EstimatorError):
                raise mm
            opts = (base_opts.replace(**{f: point[f] for f in opt_fields}) if opt_fields
                    else base_opts)
            row.update(headline(mm, opts))
            row["error"] = ""
        except EstimatorError as e:
            row["error"] = str(e)
        rows.append(row)
    return rows


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

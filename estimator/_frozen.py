"""A faster ``__init__`` for the report's frozen dataclasses (performance plumbing only).

``@dataclass(frozen=True)`` generates an ``__init__`` that stores every field through
``object.__setattr__(self, name, value)`` (a frozen class refuses ``self.name = value``): about
0.1 µs a field, and one ``estimate()`` builds some 20 report objects with ~200 fields (the decode
table alone ten objects), ~10% of its time. :func:`direct_init` gives such a class an
``__init__`` with the same parameters and defaults that writes the instance ``__dict__``
directly — where ``object.__setattr__`` puts the values too — so the objects are identical. The
class stays frozen: assigning a field afterwards still raises ``FrozenInstanceError``.

The trade-off: an instance whose ``__dict__`` has been touched reads its attributes ~10 ns
slower. So it is applied to objects built once and read a few times (sections, stages, decode
points), not to the ones read in the inner loops of searches (``serving.DecodeReads``,
``memory.StageModel``) or by many properties (``flops.FlopReport``).
"""

from __future__ import annotations

import dataclasses
import functools


def direct_init(cls: type) -> type:
    """Class decorator, applied above ``@dataclass(frozen=True)`` (see the module docstring).

    Classes the shortcut does not cover keep the generated ``__init__``: slots, ``__post_init__``,
    ``default_factory``, ``InitVar``/``init=False``/keyword-only fields. The generated one stays
    reachable as ``cls.__init__.__wrapped__`` (``inspect.signature`` shows its annotations).
    """
    fields = dataclasses.fields(cls)
    if ("__slots__" in cls.__dict__ or hasattr(cls, "__post_init__")
            or len(fields) != len(cls.__dataclass_fields__)  # InitVar / ClassVar pseudo-fields
            or any(not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING
                   or f.name in ("self", "_d") or f.name.startswith("_default_")
                   for f in fields)):
        return cls
    params, defaults = [], {}
    for f in fields:
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            defaults[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    # the same mechanism dataclasses uses to build the generated __init__
    src = (f"def __init__(self, {', '.join(params)}):\n    _d = self.__dict__\n"
           + "".join(f"    _d[{f.name!r}] = {f.name}\n" for f in fields))
    namespace = dict(defaults)
    exec(src, namespace)  # noqa: S102  (source built above from the class's own field names)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__wrapped__ = cls.__init__
    cls.__init__ = init
    return cls


def spec_cache(maxsize: int):
    """``functools.lru_cache(maxsize)`` for a function keyed on a spec (and other hashable
    arguments), bypassed for operands that cannot be hashed: the array specs of a vectorized
    sweep (:mod:`estimator.vector`), whose fields hold numpy arrays, run the function itself.
    So one formula function serves the cached scalar report and the vectorized grid.
    ``__wrapped__``, ``cache_clear`` and ``cache_info`` are the lru_cache's."""

    def deco(fn):
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kw):
            try:
                return cached(*args, **kw)
            except TypeError:  # unhashable (array) operands; a TypeError of fn itself recurs
                return fn(*args, **kw)

        wrapper.cache_clear = cached.cache_clear
        wrapper.cache_info = cached.cache_info
        return wrapper

    return deco


def maximum(*xs):
    """``max(xs)`` of numbers, or the elementwise maximum when an operand is a numpy array
    (a vectorized sweep's operand: comparing arrays raises ValueError inside ``max``)."""
    try:
        return max(xs)
    except ValueError:
        import numpy as np  # only the vectorized path gets here

        return functools.reduce(np.maximum, xs)


def minimum(*xs):
    """``min(xs)``, elementwise for numpy operands (see :func:`maximum`)."""
    try:
        return min(xs)
    except ValueError:
        import numpy as np

        return functools.reduce(np.minimum, xs)


def is_value(x, v) -> bool:
    """``x == v`` for a number ``x``; False for an array (the general branch serves every
    element). For shortcuts that skip work when a workload value is special (``batch == 1``)."""
    return isinstance(x, (int, float)) and x == v


def array_of(instance, changes):
    """A copy of a frozen dataclass instance with ``changes`` set, bypassing validation (the
    values were validated one by one, and the cross-field rules run separately)."""
    out = object.__new__(type(instance))
    d = dict(instance.__dict__)
    d.pop("_hash", None)  # ModelSpec's and Options' memoized hash
    d.update(changes)
    out.__dict__.update(d)
    return out


def pointwise(fn, *objs):
    """``fn`` at each point of array-valued specs/options (:func:`array_of` copies), for the few
    figures with no array form (the step-time model's predicted MFU: its collectives are lists
    of whole-number volumes): one scalar call per point, the rest of a vectorized sweep's row
    stays vectorized. Returns a float64 array."""
    import numpy as np

    cols = [{k: v for k, v in o.__dict__.items() if isinstance(v, np.ndarray)} for o in objs]
    n = max(len(v) for c in cols for v in c.values())
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = fn(*(array_of(o, {k: v[i].item() for k, v in c.items()})
                      for o, c in zip(objs, cols)))
    return out


def remembered(store: dict, key, limit: int, compute):
    """``compute()``, remembered in ``store`` under ``key`` (performance plumbing for the
    per-workload caches: layout search, step time, engine and latency sections, the report's
    extras). ``key`` must identify everything ``compute`` reads. An unhashable key (array
    operands of a vectorized sweep, a spec with list fields) is computed, not remembered.
    Bounded: the store is cleared when it holds ``limit`` entries."""
    try:
        hit = store.get(key)
    except TypeError:
        return compute()
    if hit is None:
        if len(store) >= limit:
            store.clear()
        hit = store[key] = compute()
    return hit


def fresh(x):
    """A copy of nested dicts and lists whose leaves are immutable (numbers, strings, tuples,
    None): what a ``to_dict()`` hands out from a section that a per-workload memo shares
    between reports, so that a caller changing its dict cannot change another report's.
    (``copy.deepcopy`` does the same at several times the cost: it tracks shared objects.)"""
    if type(x) is dict:
        out = x.copy()  # the leaves (most values are numbers) at C speed; containers below
        for k, v in x.items():
            if type(v) is dict or type(v) is list:
                out[k] = fresh(v)
        return out
    if type(x) is list:
        return [fresh(v) for v in x]
    return x

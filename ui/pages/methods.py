"""Methods: every formula, its convention and its source — rendered from the code itself.

Each estimator module lists its public formula functions in ``FORMULAS``; this page shows their
docstrings (``inspect.getdoc``), the module's named constants and convention tables, and the
options' metadata. Nothing here is a second copy: edit a docstring and this page changes.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections.abc import Mapping
from typing import Any

import streamlit as st

from estimator.options import OPTION_FIELDS
from ui.state import context

MODULES = (
    ("Parameters", "estimator.params"),
    ("Vision towers", "estimator.vision"),
    ("FLOPs", "estimator.flops"),
    ("Inference memory", "estimator.memory"),
    ("Training memory, compute, time and cost", "estimator.training"),
    ("Serving speed", "estimator.serving"),
    ("Dense vs MoE", "estimator.compare"),
    ("Hardware", "estimator.hardware"),
)
_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data):`~?([^`]+)`")


def rst_to_md(text: str) -> str:
    """Docstring (reST-flavoured) → Markdown: roles and ``literals`` become code spans."""
    text = _ROLE.sub(lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    return text.replace("``", "`")


def _constants(mod: Any) -> list[dict[str, str]]:
    rows = []
    for name, v in vars(mod).items():
        if name.isupper() and not name.startswith("_") and isinstance(v, (int, float)) \
                and not isinstance(v, bool):
            rows.append({"constant": name, "value": f"{v:,}" if isinstance(v, int) else f"{v:g}"})
    return rows


def _convention_tables(mod: Any) -> list[tuple[str, list[dict[str, str]]]]:
    out = []
    for name, v in vars(mod).items():
        if name.isupper() and name.endswith(("CONVENTIONS", "MODES")) and isinstance(v, Mapping):
            out.append((name, [{"name": str(k), "meaning": str(x)} for k, x in v.items()]))
    return out


st.title("Methods", anchor=False)
st.markdown(
    "Every number in this app comes from `estimator.estimate(model, **options)`, the same "
    "report the command line prints (`python -m estimator report mixtral-8x7b`). Below, each "
    "formula is shown with its docstring — the derivation, the convention it uses and its "
    "source — straight from the code. Counts, bytes and FLOPs are exact integers inside; "
    "units are applied only on screen (**GiB = 2³⁰ bytes**, **B = 10⁹ parameters**, "
    "**1 multiply-add = 2 FLOPs**).")

ctx = context()
if ctx.report is not None:
    with st.expander("Conventions used by the current estimate", expanded=True,
                     icon=":material/rule:"):
        st.dataframe([{"quantity": k, "convention": v}
                      for k, v in ctx.report.conventions().items()], hide_index=True)

tabs = st.tabs([t for t, _ in MODULES] + ["Options"])
for tab, (_, modname) in zip(tabs, MODULES):
    with tab:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            st.info(f"`{modname}` is not available in this build.")
            continue
        doc = inspect.getdoc(mod)
        if doc:
            st.markdown(rst_to_md(doc))
        formulas = getattr(mod, "FORMULAS", None) or []
        if not formulas:
            st.info(f"`{modname}` lists no formulas yet.", icon=":material/hourglass_empty:")
        for fn in formulas:
            name = getattr(fn, "__name__", str(fn))
            try:
                sig = str(inspect.signature(fn))
            except (TypeError, ValueError):
                sig = "(…)"
            with st.expander(f"`{name}`"):
                st.code(f"{modname}.{name}{sig}", language="python", wrap_lines=True)
                st.markdown(rst_to_md(inspect.getdoc(fn) or "(no docstring)"))
        consts = _constants(mod)
        if consts:
            st.markdown("**Named constants**")
            st.dataframe(consts, hide_index=True)
        for name, rows in _convention_tables(mod):
            st.markdown(f"**`{name}`**")
            st.dataframe(rows, hide_index=True,
                         column_config={"meaning": st.column_config.TextColumn(width="large")})

with tabs[-1]:
    st.markdown("Every workload option, from `estimator.options.Options` (the CLI builds its "
                "flags and this app its widgets from the same metadata).")
    rows = []
    for name, f in OPTION_FIELDS.items():
        md = f.metadata
        bounds = []
        if md.get("minimum") is not None:
            bounds.append(f"≥ {md['minimum']:g}")
        if md.get("maximum") is not None:
            bounds.append(f"≤ {md['maximum']:g}")
        default = f.default if f.default is not dataclasses.MISSING else "—"
        rows.append({"option": name, "group": md["group"], "default": str(default),
                     "choices / bounds": ", ".join(map(str, md["choices"])) if md["choices"]
                     else " ".join(bounds), "meaning": md["help"]})
    st.dataframe(rows, hide_index=True,
                 column_config={"meaning": st.column_config.TextColumn(width="large")})

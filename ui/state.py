"""The context every page reads: the model, the options and the one report computed per rerun.

``app.py`` builds it from the sidebar (``ui.sidebar.render``) and stores it in session state;
pages call :func:`context` (or :func:`require_report` when they need numbers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from estimator.options import Options
from estimator.presets import Model
from estimator.report import Report

from .text import md
from .urlcodec import State

LOG = logging.getLogger("moe_estimator.app")
CTX_KEY = "_ctx"


@dataclass
class Context:
    """Everything a page needs; ``report`` is None when an input is invalid (see ``errors``)."""

    base: Model | None = None  # the preset or uploaded config, unedited
    model: Model | None = None  # with the sidebar's architecture edits applied
    opts: Options | None = None
    report: Report | None = None
    state: State | None = None  # what the share link encodes
    edits: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # one line each, naming the field
    messages: list[str] = field(default_factory=list)  # e.g. a malformed link fell back

    @property
    def ok(self) -> bool:
        return self.report is not None and not self.errors


def context() -> Context:
    ctx = st.session_state.get(CTX_KEY)
    return ctx if isinstance(ctx, Context) else Context(errors=["no model loaded yet"])


def show_problems(ctx: Context) -> None:
    for m in ctx.messages:
        st.warning(md(m), icon=":material/link_off:")
    for e in ctx.errors:
        st.error(md(e), icon=":material/error:")


def require_report(ctx: Context | None = None) -> Context:
    """The context, or an error box naming the bad field and a stop (no numbers are shown for
    an input the estimator rejected: a wrong number is worse than none)."""
    ctx = ctx or context()
    if not ctx.ok:
        if not ctx.errors and ctx.base is None:
            st.info("Upload or paste a Hugging Face config.json in the sidebar (or pick a "
                    "preset) to see its estimate. Files up to 2 MiB are read; the uploader "
                    "refuses larger ones.", icon=":material/upload_file:")
            st.stop()
        if not ctx.errors:
            st.error("No estimate: the inputs could not be evaluated.")
        st.info("Fix the input named above in the sidebar; nothing is estimated until then.",
                icon=":material/info:")
        st.stop()
    return ctx

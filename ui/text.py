"""The one input boundary on screen: any string that came from a user is shown as plain text.

Streamlit renders the body of ``st.markdown``/``st.error``/``st.caption``/titles/labels as
Markdown (links, images, HTML-like tags, colour directives, icons, KaTeX). A model name, a
config value or a share-link parameter can hold any of these, so every such string passes
through :func:`md` (or :func:`code`, or :func:`html_text` for plotly labels) before it is
shown: nothing on the page can load or link anything a link's author chose.
"""

from __future__ import annotations

import html
import re
from typing import Any

# Markdown/Streamlit syntax that can link, embed, format or run: brackets and parentheses
# (links, images, :color[...]), angle brackets (HTML, <autolinks>), ':' (http:// autolinks,
# :material/icon:), '@' (e-mail autolinks), '$' (KaTeX), '!' '`' '*' '_' '~' '#' '|' '+' '{}'.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~$:@])")
# Bare URLs, 'www.' hosts and e-mail addresses are linked by the renderer after parsing, from
# the decoded text, so a backslash does not stop them: an invisible WORD JOINER (U+2060) inside
# '://', after 'www' and after '@' does (the text reads the same).
WJ = "\u2060"
_AUTOLINK = re.compile(r"(?i)(://|\bwww\.|@)")


def _break_autolinks(m: re.Match) -> str:
    t = m.group(1)
    return WJ + t if t == "://" else t[:-1] + WJ + t[-1] if t.endswith(".") else t + WJ


def md(text: Any) -> str:
    """``text`` escaped for Streamlit Markdown: shown literally, on one line."""
    s = str(text).replace("\r", " ").replace("\n", " ").replace(WJ, "")
    return _MD_SPECIAL.sub(r"\\\1", _AUTOLINK.sub(_break_autolinks, s))


def code(text: Any) -> str:
    """``text`` as a Markdown code span (rendered literally; backticks replaced)."""
    return "`" + str(text).replace("`", "'").replace("\r", " ").replace("\n", " ") + "`"


def html_text(text: Any) -> str:
    """``text`` for plotly labels and hover text, which render a subset of HTML (``<a href>``)."""
    return html.escape(str(text), quote=True)


_ESCAPE = re.compile(r"\\(.)")


def unescape(text: str) -> str:
    """Inverse of :func:`md` (tests read what a user sees)."""
    return _ESCAPE.sub(r"\1", text).replace(WJ, "")

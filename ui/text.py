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
_WWW = re.compile(r"(?i)\b(www)\.")  # 'www.host' autolinks too


def md(text: Any) -> str:
    """``text`` escaped for Streamlit Markdown: shown literally, on one line."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    return _WWW.sub(r"\1\\.", _MD_SPECIAL.sub(r"\\\1", s))


def code(text: Any) -> str:
    """``text`` as a Markdown code span (rendered literally; backticks replaced)."""
    return "`" + str(text).replace("`", "'").replace("\r", " ").replace("\n", " ") + "`"


def html_text(text: Any) -> str:
    """``text`` for plotly labels and hover text, which render a subset of HTML (``<a href>``)."""
    return html.escape(str(text), quote=True)


_ESCAPE = re.compile(r"\\(.)")


def unescape(text: str) -> str:
    """Inverse of :func:`md` (tests read what a user sees)."""
    return _ESCAPE.sub(r"\1", text)

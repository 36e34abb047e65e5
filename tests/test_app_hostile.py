"""The app under hostile share links and uploads (issue 10), through AppTest.

* One input boundary: a string from a link or an upload is shown as plain text everywhere (no
  link, image, HTML or autolink a link's author chose), on every page and tab.
* Budgets: a link that expands (ranges, digits) is refused quickly, naming the field.
* Derived models (dense equivalents) that cannot exist are reported beside the comparison,
  never as the user's error, never blanking the page.
* The sidebar: re-clicking the selected "Model source" segment, a too-large upload, a removed
  upload.
"""

from __future__ import annotations

import json
import re
import time

import pytest

pytest.importorskip("streamlit")
from app_pages import APP, PAGES, TABS  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import estimator  # noqa: E402
from ui.text import unescape  # noqa: E402
from ui.urlcodec import State, custom_fields, encode  # noqa: E402

HOST = "host.invalid"
PAYLOADS = (f"![x](http://{HOST}/p.png)", f"[text](http://{HOST}/l)", f"<img src=http://{HOST}>",
            f"http://{HOST}/auto", f"www.{HOST}", f"me@{HOST}", f":red[{HOST}]",
            f"$\\href{{http://{HOST}}}{{x}}$")
SMALL = {"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2,
         "vocab_size": 1000, "num_attention_heads": 8, "num_key_value_heads": 2,
         "intermediate_size": 128, "num_local_experts": 4, "num_experts_per_tok": 2}
# elements whose text Streamlit renders as Markdown (bodies and labels)
BODIES = ("markdown", "caption", "error", "warning", "info", "success", "title", "header",
          "subheader")
LABELS = ("checkbox", "toggle", "expander", "metric", "button", "text_input", "selectbox")


def app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    return at.run()


def rendered(at: AppTest) -> list[str]:
    out = []
    for kind in BODIES:
        out += [str(e.value) for e in at.get(kind)]
    for kind in LABELS:
        out += [str(getattr(e, "label", "") or "") for e in at.get(kind)]
    return out


def assert_plain(at: AppTest) -> None:
    """No payload reaches the page as Markdown: its active parts are all escaped."""
    assert not at.exception, [e.value for e in at.exception]
    for text in rendered(at):
        for needle in (f"http://{HOST}", f"www.{HOST}", f":red[{HOST}", "$\\href"):
            assert needle not in text, (needle, text)  # escaped, these read "http\\://" ...
        for active in (rf"(?<!\\)\]\(http://{HOST}", r"(?<!\\)<img", rf"(?<!\\)@{HOST}"):
            assert not re.search(active, text), (active, text)


def hostile_custom_link() -> dict[str, str]:
    spec = estimator.load_model(dict(SMALL)).spec.replace(name=" ".join(PAYLOADS))
    return encode(State(model="custom", arch=custom_fields(spec)))


# --- one input boundary --------------------------------------------------------------------

def test_hostile_link_values_are_plain_text_on_every_page_and_tab():
    link = {**hostile_custom_link(), "a.norm_type": PAYLOADS[0], "gpu": PAYLOADS[1],
            "zzz" + PAYLOADS[2]: "1", "dtype": PAYLOADS[3]}
    at = app(**link)
    assert_plain(at)
    shown = " ".join(unescape(t) for t in rendered(at))
    assert PAYLOADS[0] in shown  # the invalid norm_type is named, as text
    for tab in TABS:
        at.session_state["est_tab"] = tab
        at.run()
        assert_plain(at)
    for page in PAGES:
        at.switch_page(f"ui/pages/{page}.py").run()
        assert_plain(at)


def test_hostile_model_name_is_plain_text_in_the_estimate_of_a_valid_link():
    at = app(**hostile_custom_link())
    assert at.metric and not at.error
    assert_plain(at)
    assert any(PAYLOADS[1] in unescape(t.value) for t in at.title)


def test_hostile_uploaded_config_is_plain_text_and_its_source_is_not_a_link():
    at = app()
    at.sidebar.segmented_control(key="src").set_value("Your config.json").run()
    at.sidebar.radio(key="cfg_how").set_value("Upload").run()
    body = {"name": PAYLOADS[1], "display_name": " ".join(PAYLOADS),
            "source": f"https://{HOST}/card", "config": SMALL}
    at.sidebar.file_uploader(key="cfg_upload").set_value(
        ("config.json", json.dumps(body).encode(), "application/json")).run()
    assert at.metric
    assert_plain(at)
    assert not any(f"https://{HOST}" in c.value for c in at.caption)  # no "model card" link
    at.switch_page("ui/pages/compare.py").run()
    assert_plain(at)


def test_markdown_and_html_exports_escape_user_strings():
    from ui import exports

    spec = estimator.load_model(dict(SMALL)).spec.replace(name=" ".join(PAYLOADS))
    m = estimator.Model(spec=spec, display_name=spec.name, origin="upload:config.json",
                        source=f"https://{HOST}/card")
    r = estimator.estimate(m)
    md = exports.to_markdown(r)
    for needle in (f"http://{HOST}", f"www.{HOST}", f"https://{HOST}"):
        assert needle not in md, needle
    for active in (r"(?<!\\)\]\(http", r"(?<!\\)<img", rf"(?<!\\)@{HOST}"):
        assert not re.search(active, md), active
    page = exports.to_html(r, {})
    assert f"href='https://{HOST}" not in page and "<img src=http" not in page


# --- budgets on links ------------------------------------------------------------------------

def test_range_amplification_link_is_refused_fast_naming_the_field():
    ranges = ",".join(["0-100000"] * 200)[:1990]
    t0 = time.perf_counter()
    at = app(**{"a.moe_layers": ranges, "a.sliding_window_layers": ranges})
    assert time.perf_counter() - t0 < 10
    assert not at.exception
    warnings = " ".join(unescape(w.value) for w in at.warning)
    assert "moe_layers" in warnings and "too large" in warnings
    assert at.metric  # the rest of the link applies


@pytest.mark.parametrize("query, field", [
    ({"capacity_factor": "1e308"}, "capacity_factor"),
    ({"batch": "9" * 1999}, "batch"),
    ({"a.hidden_size": "9" * 1999}, "hidden_size"),
    ({"a.num_hidden_layers": "10000000"}, "num_hidden_layers"),
])
def test_absurd_link_values_are_refused_naming_the_field(query, field):
    at = app(**query)
    assert not at.exception
    said = " ".join(unescape(x.value) for x in list(at.warning) + list(at.error))
    assert field in said and "Something went wrong" not in said


# --- derived models ---------------------------------------------------------------------------

def test_impossible_dense_equivalent_is_not_the_users_error():
    at = app(**{"a.num_experts": "100000"})  # its same-total dense model cannot exist
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.metric  # the page is not blanked
    said = " ".join(unescape(c.value) for c in at.caption)
    assert "this comparison is not available because" in said
    at.switch_page("ui/pages/compare.py").run()
    assert not at.exception and not at.error
    assert any("not available because" in unescape(i.value) for i in at.info)


def test_explore_with_no_valid_point_says_why():
    at = app()
    at.switch_page("ui/pages/explore.py").run()
    at.selectbox(key="ex_x").set_value("num_hidden_layers").run()
    at.text_input(key="ex_vals_num_hidden_layers").set_value("20000, 30000").run()
    at.text_input(key="ex_vals_num_experts_per_tok").set_value("1").run()
    assert not at.exception
    warnings = " ".join(unescape(w.value) for w in at.warning)
    assert "No grid point is a valid model" in warnings and "num_hidden_layers" in warnings
    assert not any("does not report" in i.value for i in at.info)


# --- the sidebar ------------------------------------------------------------------------------

def test_reclicking_the_selected_model_source_keeps_it():
    at = app()
    at.sidebar.segmented_control(key="src").set_value(None).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["src"] == "Preset" and at.metric
    at.sidebar.segmented_control(key="src").set_value("Your config.json").run()
    at.sidebar.segmented_control(key="src").set_value(None).run()
    assert not at.exception and at.session_state["src"] == "Your config.json"


def test_too_large_upload_says_why_in_the_main_area_and_drops_the_old_model():
    at = app()
    at.sidebar.segmented_control(key="src").set_value("Your config.json").run()
    up = at.sidebar.file_uploader(key="cfg_upload")
    up.set_value(("config.json", json.dumps(SMALL).encode(), "application/json")).run()
    assert at.metric
    big = json.dumps({**SMALL, "pad": "x" * (2 * 1024 * 1024 + 10)}).encode()
    at.sidebar.file_uploader(key="cfg_upload").set_value(
        ("config.json", big, "application/json")).run()
    assert not at.exception
    assert any("too large" in unescape(e.value) for e in at.main.error)
    assert not at.metric  # the previous model is not shown as if it were the upload
    at.sidebar.file_uploader(key="cfg_upload").set_value(None).run()
    assert not at.exception and not at.metric
    assert any("Upload or paste" in i.value for i in at.main.info)


def test_unknown_gpu_in_a_link_is_named_not_silently_replaced():
    at = app(model="mixtral-8x7b", gpu="h300-nvl")
    assert not at.exception
    warned = [unescape(w.value) for w in at.warning]
    assert any("h300-nvl" in w and "not in the GPU catalog" in w for w in warned), warned


# --- uploads: encodings and preset files with bad figures --------------------------------------

def _upload(data: bytes, name: str = "config.json") -> AppTest:
    at = app()
    at.sidebar.segmented_control(key="src").set_value("Your config.json").run()
    at.sidebar.file_uploader(key="cfg_upload").set_value(
        (name, data, "application/json")).run()
    return at


@pytest.mark.parametrize("data", [
    b"\xef\xbb\xbf" + json.dumps(SMALL).encode(),             # UTF-8 with a BOM (Notepad)
    b"\xff\xfe" + json.dumps(SMALL).encode("utf-16-le"),      # PowerShell 5 `>`
])
def test_upload_with_a_byte_order_mark_is_estimated(data):
    at = _upload(data)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.metric


@pytest.mark.parametrize("data, needle", [
    (json.dumps({"name": "x", "config": SMALL, "published": {"total_params": "abc"}}).encode(),
     "published.total_params"),
    (json.dumps({"name": "x", "config": SMALL, "published": {"convention": ["x"]}}).encode(),
     "published.convention"),
    (json.dumps(SMALL).encode("utf-16-le"), "NUL bytes"),
    (b'{"model_type": "mixtral", "hidden_size": NaN}', "NaN"),
])
def test_bad_upload_is_an_error_box_naming_the_field(data, needle):
    at = _upload(data)
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(unescape(e.value) for e in at.error)
    assert needle in said and "Something went wrong" not in said, said
    assert not at.metric

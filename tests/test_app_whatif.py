"""The Reduce cost page (ui/pages/reduce.py) through AppTest: it renders the what-if table and
chart for MoE and dense presets, reacts to its widgets, and reruns fast."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import estimator  # noqa: E402
from estimator.whatif import DEFAULT_QUANTS  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "ui/pages/reduce.py"


def _page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_reduce_page_shows_the_what_if_rows():
    at = _page()
    assert at.title[0].value == "Reduce cost"
    df = at.dataframe[0].value
    expected = estimator.what_if("mixtral-8x7b", gpu="h100-sxm", quant=list(DEFAULT_QUANTS),
                                 prune_experts=4, offload_cache_experts=4)["rows"]
    assert list(df["variant"]) == [r["name"] for r in expected]
    assert at.get("plotly_chart")
    assert len(at.download_button) == 3


def test_reduce_page_widgets_change_the_rows():
    at = _page()
    at.number_input(key="wi_prune").set_value(6).run()
    assert not at.exception
    assert "prune to 6/8 experts" in list(at.dataframe[0].value["variant"])


def test_reduce_page_dense_model_and_rerun_time():
    at = _page(model="llama-3-8b")
    kinds = set(at.dataframe[0].value["kind"])
    assert kinds == {"baseline", "quantize", "lora", "qlora"}
    times = []
    for r in (8, 16, 8, 16, 8):
        at.number_input(key="wi_rank").set_value(r).run()
        times.append(at.session_state["_run_cpu_ms"])
    assert statistics.median(times) < 100, times

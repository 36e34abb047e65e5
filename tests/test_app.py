"""The Streamlit app through ``streamlit.testing.v1.AppTest`` (no browser).

Every page renders without an exception; a preset switch, an edited field, a bad paste/upload
and a shared link behave; exports record their inputs; the app never imports torch outside the
Validate page; a widget change reruns fast. Expected numbers are the model cards' own figures
(Mixtral: 46.7B total / 12.9B active; DeepSeek-V3: 671B total), not values this code produced.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap

import pytest
import yaml

pytest.importorskip("streamlit")
from app_pages import APP, PAGES, ROOT, TABS  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import estimator  # noqa: E402
from ui.text import unescape  # noqa: E402  (boxes escape user strings; tests read the text)

SMALL_MOE = {"model_type": "mixtral", "hidden_size": 512, "num_hidden_layers": 2,
             "vocab_size": 1000, "num_attention_heads": 8, "num_key_value_heads": 2,
             "intermediate_size": 1024, "num_local_experts": 4, "num_experts_per_tok": 2}


def app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    return at.run()


def clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise KeyError(label)


def texts(at: AppTest) -> str:
    return " ".join(str(x.value) for x in list(at.markdown) + list(at.caption))


@pytest.fixture(scope="module")
def default_app() -> AppTest:
    return app()


# --- default render --------------------------------------------------------------------------

def test_opens_on_mixtral_with_the_headline(default_app):
    at = default_app
    clean(at)
    assert at.session_state["preset"] == "mixtral-8x7b"
    assert metric(at, "Total parameters") == "46.7B"  # Mistral AI: 46.7B total
    assert metric(at, "Active per token") == "12.9B"  # Mistral AI: 12.9B per token
    assert "Memory like a **46.7B dense** model, compute like a **12.9B dense** one" in texts(at)
    # the headline says which active-parameter convention the figure uses (Mistral's own)
    assert next(m for m in at.metric if m.label == "Active per token").delta == "with embedding"
    assert "used per token (with embedding)" in texts(at)


def test_headline_active_follows_the_publisher_convention():
    """gpt-oss: OpenAI's card counts without the input embedding (5.13B active)."""
    at = app(model="gpt-oss-120b")
    clean(at)
    assert metric(at, "Active per token") == "5.1B"
    assert next(m for m in at.metric if m.label == "Active per token").delta == \
        "without embedding"


@pytest.mark.parametrize("tab", TABS)
def test_every_estimate_tab_renders(default_app, tab):
    at = default_app
    at.session_state["est_tab"] = tab
    at.run()
    clean(at)
    assert at.get("plotly_chart") or at.dataframe or at.download_button


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page):
    at = app()
    at.switch_page(f"ui/pages/{page}.py").run()
    clean(at)
    assert at.title[0].value.lower() == page


@pytest.mark.parametrize("slug", estimator.list_presets())
def test_every_preset_renders(slug):
    at = app(model=slug)
    clean(at)
    assert metric(at, "Total parameters") != "—"
    at.session_state["est_tab"] = "Inference memory"  # the tab that re-estimates curves
    at.run()
    clean(at)
    at.switch_page("ui/pages/explore.py").run()
    clean(at)


def test_methods_page_shows_every_formula_docstring():
    at = app()
    at.switch_page("ui/pages/methods.py").run()
    labels = {e.label for e in at.expander}
    import importlib

    for mod in ("estimator.params", "estimator.vision", "estimator.flops", "estimator.memory",
                "estimator.training", "estimator.serving"):
        for fn in getattr(importlib.import_module(mod), "FORMULAS", []):
            assert f"`{fn.__name__}`" in labels, (mod, fn.__name__)


# --- interaction -----------------------------------------------------------------------------

def test_preset_switch_changes_every_page():
    at = app()
    at.sidebar.selectbox(key="preset").set_value("deepseek-v3").run()
    clean(at)
    assert metric(at, "Total parameters") == "671.0B"  # DeepSeek-V3 card: 671B total
    assert at.query_params["model"] == "deepseek-v3"
    for page in PAGES:
        at.switch_page(f"ui/pages/{page}.py").run()
        clean(at)


def test_edited_field_is_estimated_and_recorded_in_the_link():
    at = app()
    key = "arch:preset:mixtral-8x7b:num_experts_per_tok"
    at.sidebar.number_input(key=key).set_value(1).run()
    clean(at)
    # top-1 routing: total unchanged (all experts resident), active drops
    assert metric(at, "Total parameters") == "46.7B"
    assert metric(at, "Active per token") != "12.9B"
    assert "num_experts_per_tok" in texts(at)  # the "Edited:" caption names it
    assert at.query_params["a.num_experts_per_tok"] == "1"


def test_impossible_edit_shows_an_error_naming_the_field_and_no_numbers():
    at = app()
    at.sidebar.number_input(key="arch:preset:mixtral-8x7b:num_experts_per_tok").set_value(9)
    at.run()
    assert not at.exception
    assert any("num_experts_per_tok" in unescape(e.value) for e in at.error)
    assert not at.metric  # a wrong number is worse than none


def test_bad_option_shows_an_error_naming_it():
    at = app()
    at.sidebar.number_input(key="opt:tp").set_value(3).run()  # 3 does not divide 32 heads
    assert not at.exception
    assert any("tp=3" in unescape(e.value) and "num_attention_heads" in unescape(e.value)
               for e in at.error)


def _config_mode(at: AppTest, how: str) -> AppTest:
    at.sidebar.segmented_control(key="src").set_value("Your config.json").run()
    return at.sidebar.radio(key="cfg_how").set_value(how).run()


def test_pasted_config_is_estimated():
    at = _config_mode(app(), "Paste")
    at.sidebar.text_area(key="cfg_paste").set_value(json.dumps(SMALL_MOE)).run()
    clean(at)
    from ui import fmt

    # the app shows the estimator's count for the pasted file (plumbing, not the formula)
    expected = estimator.count_params(estimator.load_model(dict(SMALL_MOE)).spec).total
    assert metric(at, "Total parameters") == fmt.params(expected)
    assert at.query_params["model"] == "custom"
    at.switch_page("ui/pages/compare.py").run()
    clean(at)


@pytest.mark.parametrize("text, field", [
    (json.dumps({**SMALL_MOE, "num_experts_per_tok": 5}), "num_experts_per_tok"),
    (json.dumps({**SMALL_MOE, "hidden_size": "wide"}), "hidden_size"),
    ('{"model_type": ', "config.json"),
    ("!!python/object/apply:os.system ['ls']", "config.json"),
    ("x" * (2 * 1024 * 1024 + 10), "config.json"),
])
def test_bad_paste_shows_an_error_naming_the_field(text, field):
    at = _config_mode(app(), "Paste")
    at.sidebar.text_area(key="cfg_paste").set_value(text).run()
    assert not at.exception
    assert any(field in unescape(e.value) for e in at.error), [e.value for e in at.error]
    assert not at.metric


def test_bad_upload_shows_an_error_naming_the_field():
    at = _config_mode(app(), "Upload")
    bad = json.dumps({**SMALL_MOE, "num_key_value_heads": 3}).encode()
    at.sidebar.file_uploader(key="cfg_upload").set_value(("config.json", bad,
                                                          "application/json")).run()
    assert not at.exception
    assert any("num_key_value_heads" in unescape(e.value) for e in at.error), \
        [e.value for e in at.error]
    good = json.dumps(SMALL_MOE).encode()
    at.sidebar.file_uploader(key="cfg_upload").set_value(("config.json", good,
                                                          "application/json")).run()
    clean(at)
    assert at.metric


def test_validate_button_measures_the_current_model():
    """The one place torch is allowed: a quick CPU validation of a tiny pasted model."""
    pytest.importorskip("torch")
    at = _config_mode(app(), "Paste")
    at.sidebar.text_area(key="cfg_paste").set_value(json.dumps(SMALL_MOE)).run()
    at.switch_page("ui/pages/validate.py").run()
    at.button(key="val_run").click().run(timeout=120)
    clean(at)
    assert at.success or at.warning  # the summary line
    table = at.dataframe[-1].value
    params = table[table["quantity"] == "parameters"].iloc[0]
    assert params["estimate"] == params["measured"]  # counted vs instantiated in PyTorch


# --- shareable link --------------------------------------------------------------------------

def test_link_round_trip_reproduces_the_estimate():
    at = app()
    at.sidebar.selectbox(key="preset").set_value("qwen3-30b-a3b").run()
    at.sidebar.number_input(key="opt:batch").set_value(8).run()
    at.sidebar.number_input(key="arch:preset:qwen3-30b-a3b:num_experts").set_value(64).run()
    clean(at)
    link = dict(at.query_params)
    shown = [m.value for m in at.metric]
    assert link["batch"] == "8" and link["a.num_experts"] == "64"

    again = app(**link)
    clean(again)
    assert again.session_state["opt:batch"] == 8
    assert again.session_state["arch:preset:qwen3-30b-a3b:num_experts"] == 64
    assert [m.value for m in again.metric] == shown


def test_custom_model_link_round_trip():
    at = _config_mode(app(), "Paste")
    at.sidebar.text_area(key="cfg_paste").set_value(json.dumps(SMALL_MOE)).run()
    link, shown = dict(at.query_params), [m.value for m in at.metric]
    again = app(**link)
    clean(again)
    assert [m.value for m in again.metric] == shown


def test_malformed_link_falls_back_to_defaults_with_a_message():
    at = app(model="no-such-model", batch="many", zzz="1")
    assert not at.exception and not at.error
    warnings = " ".join(unescape(w.value) for w in at.warning)
    assert "no-such-model" in warnings and "batch" in warnings and "zzz" in warnings
    assert metric(at, "Total parameters") == "46.7B"


# --- exports ---------------------------------------------------------------------------------

def test_exports_record_inputs_conventions_and_version():
    from ui import exports, views

    r = estimator.estimate("mixtral-8x7b", batch=4, seq_len=8192)
    for text in (exports.to_markdown(r), exports.to_json(r), exports.to_csv(r)):
        assert estimator.__version__ in text and "8192" in text
    d = json.loads(exports.to_json(r))
    assert d["options"]["batch"] == 4 and "conventions" in d
    page = exports.to_html(r, views.figures(r))
    assert page.count("<script") >= 2 and "plotly" in page.lower()
    assert "46.70 B" in page or "46.7B" in page
    assert "<script src=" not in page  # self-contained: plotly.js inlined, nothing fetched


def test_html_export_escapes_user_strings():
    from ui import exports

    spec = estimator.load_model("mixtral-8x7b").spec.replace(
        name="<script>alert(1)</script>", num_hidden_layers=2, moe_layers=(0, 1))
    r = estimator.estimate(spec)
    page = exports.to_html(r, {})
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


@pytest.mark.parametrize("slug", ["deepseek-v3", "llama-4-scout", "gpt-oss-20b"])
@pytest.mark.parametrize("edited", [False, True])
def test_yaml_export_reloads_to_the_same_model(tmp_path, slug, edited):
    from ui import exports

    m = estimator.load_model(slug)
    if edited:
        spec = m.spec.replace(num_experts_per_tok=1, hidden_size=m.spec.hidden_size + 128)
        m = estimator.Model(spec=spec, display_name="edited", origin="test")
    opts = dict(seq_len=32768, attention_flops="causal")  # llama4 chunks change causal FLOPs
    r = estimator.estimate(m, **opts)
    f = tmp_path / "model.yaml"
    f.write_text(exports.to_yaml(r, edited=edited))
    assert yaml.safe_load(f.read_text())  # plain, safe YAML
    back = estimator.estimate(str(f), **opts)
    assert back.model.spec.replace(name=m.spec.name) == m.spec
    assert back.to_dict(compare=False)["flops"] == r.to_dict(compare=False)["flops"]


# --- speed and imports -----------------------------------------------------------------------

def test_widget_change_reruns_fast():
    """Median script time (CPU time of the script thread, which the app measures itself: wall
    time on a shared machine adds the time other processes hold the core) of a widget rerun."""
    at = app()
    times = []
    for b in range(2, 9):
        at.sidebar.number_input(key="opt:batch").set_value(b).run()
        times.append(at.session_state["_run_cpu_ms"])
    median = statistics.median(times)
    print(f"widget rerun: median {median:.0f} ms over {len(times)} reruns")
    assert median < 250, times


def test_app_never_imports_torch_outside_the_validate_page():
    code = textwrap.dedent(f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=60).run()
        assert not at.exception
        for page in ("compare", "explore", "methods"):
            at.switch_page(f"ui/pages/{{page}}.py").run()
            assert not at.exception
        at.switch_page("ui/pages/validate.py").run()  # renders; torch only on the button
        print("torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_servable_but_untrainable_layout_explains_the_missing_training_figures():
    # vLLM replicates KV heads when tp > g; Megatron cannot split 4 KV heads over tp=8
    at = app()
    at.sidebar.selectbox(key="preset").set_value("qwen3-235b-a22b").run()
    at.sidebar.number_input(key="opt:tp").set_value(8).run()
    assert not at.exception and not at.error
    assert any("num_key_value_heads" in unescape(i.value) for i in at.info)
    assert any(m.label == "Inference memory / GPU" and m.value != "—" for m in at.metric)


# --- Explore: design space ----------------------------------------------------------------------

def _evaluate(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Evaluate").click().run()


def test_design_space_filters_and_frontier():
    """The vectorized design space on Mixtral: counts follow the filters; the frontier is a
    subset of the designs within the filters; filter reruns reuse the cached sweep."""
    at = app()
    at.switch_page("ui/pages/explore.py").run()
    clean(at)
    at.text_input(key="ds_num_experts").set_value("4:16:4")
    at.text_input(key="ds_num_experts_per_tok").set_value("1, 2, 8")
    at.text_input(key="ds_moe_intermediate_size").set_value("7168, 14336")
    at.text_input(key="ds_batch").set_value("1, 8")
    _evaluate(at)
    clean(at)
    designs = int(metric(at, "Designs").replace(",", ""))
    assert designs == 4 * 3 * 2 * 2  # the Cartesian product, invalid points included
    n_fit = int(metric(at, "Fit on 1 × NVIDIA H100 SXM5 80GB").replace(",", ""))
    within = int(metric(at, "Within the filters").replace(",", ""))
    front = int(metric(at, "Pareto frontier").replace(",", ""))
    assert 0 < front <= within == n_fit < designs
    at.number_input(key="ds_active").set_value(5.0)  # active <= 5B: Mixtral-sized designs drop
    _evaluate(at)
    clean(at)
    assert int(metric(at, "Within the filters").replace(",", "")) < within
    at.selectbox(key="ds_n").set_value(8)  # more GPUs: more designs fit
    at.number_input(key="ds_active").set_value(0.0)
    _evaluate(at)
    clean(at)
    assert int(metric(at, "Fit on 8 × NVIDIA H100 SXM5 80GB").replace(",", "")) > n_fit


def test_design_space_refuses_a_grid_above_the_cap():
    at = app()
    at.switch_page("ui/pages/explore.py").run()
    at.text_input(key="ds_num_experts").set_value("1:10000:1")
    at.text_input(key="ds_num_experts_per_tok").set_value("1:200:1")
    _evaluate(at)
    assert not at.exception
    assert at.error and "design space" in unescape(at.error[0].value)

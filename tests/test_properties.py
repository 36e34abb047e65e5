"""Property-based checks (hypothesis) over share links, uploaded configs and API values.

Whatever the input: the link codec never raises and never expands past its budgets; parsing,
loading and estimating raise nothing but ``EstimatorError``; an error message stays one short
line; a report that is produced renders as strict JSON; every user string shown on screen is
escaped. Derandomized and small, so the suite is fast and the same on every run.
"""

from __future__ import annotations

import json
import math
import re

import pytest

hypothesis = pytest.importorskip("hypothesis")
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import estimator  # noqa: E402
from estimator import formats, limits  # noqa: E402
from estimator.errors import EstimatorError  # noqa: E402
from estimator.options import OPTION_FIELDS  # noqa: E402
from estimator.presets import model_from_dict, parse_text  # noqa: E402
from estimator.spec import fields_of  # noqa: E402

FAST = settings(derandomize=True, max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
PRESETS = ("mixtral-8x7b", "deepseek-v3", "llama-3-8b")
SMALL = {"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2,
         "vocab_size": 1000, "num_attention_heads": 8, "num_key_value_heads": 2,
         "intermediate_size": 128, "num_local_experts": 4, "num_experts_per_tok": 2}

# values a hostile file or API call may hold
HUGE_INT = st.sampled_from([10 ** 7, 10 ** 12, 10 ** 40, 10 ** 400, -1, 0, 2 ** 63])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10 ** 6), HUGE_INT,
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20), st.sampled_from(["![x](http://h/p.png)", "<b>", ""]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
LINK_TEXT = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[0-9]{1,7}(-[0-9]{1,7})?(,[0-9]{1,7}(-[0-9]{1,7})?){0,40}", fullmatch=True),
    st.sampled_from(["1e308", "nan", "inf", "-0", "9" * 1999, "none", "all", "0-100000," * 90]),
)
LINK_KEYS = st.one_of(
    st.sampled_from(["model", "a.mla", "a.mla.kv_lora_rank", "a.moa.top_k", "zzz"]),
    st.sampled_from([f"a.{f}" for f in fields_of()]),
    st.sampled_from(list(OPTION_FIELDS)),
    st.text(max_size=12))


#: The longest message: the unknown-family error lists every supported family (issue #8), a
#: list bounded by the code, not by the input; the user's value in it is cut to ~60 characters.
MAX_MESSAGE = 1500


def _short_one_line(e: Exception) -> None:
    text = str(e)
    assert "\n" not in text and len(text) < MAX_MESSAGE, text


@FAST
@given(st.dictionaries(LINK_KEYS, LINK_TEXT, max_size=12))
def test_link_decode_never_raises_and_stays_within_budget(params):
    from ui.urlcodec import apply_arch, decode, encode

    state, messages = decode(params, list(PRESETS))
    assert all(isinstance(m, str) and len(m) < 400 for m in messages)
    for v in state.arch.values():
        if isinstance(v, tuple):
            assert len(v) <= limits.MAX_LAYERS
    base = None if state.model == "custom" else estimator.load_model(state.model).spec
    try:
        spec = apply_arch(base, state.arch)
        r = single_gpu.estimate(spec, **state.options)  # an unknown gpu id is refused here
    except EstimatorError as e:
        _short_one_line(e)
        return
    encode(state)
    json.loads(formats.render(r, "json"), parse_constant=pytest.fail)


@FAST
@given(st.dictionaries(st.sampled_from(sorted(SMALL) + ["rope_scaling", "layer_types",
                                                        "head_dim", "sliding_window",
                                                        "mlp_only_layers", "text_config"]),
                       VALUES, max_size=4))
def test_uploaded_config_values_raise_only_estimator_errors(changes):
    cfg = {**SMALL, **changes}
    try:
        m = model_from_dict(cfg, origin="upload:config.json", default_name="x")
        r = single_gpu.estimate(m)
    except EstimatorError as e:
        _short_one_line(e)
        return
    json.loads(formats.render(r, "json"), parse_constant=pytest.fail)


@FAST
@given(st.dictionaries(st.sampled_from(fields_of()), VALUES, max_size=4))
def test_custom_spec_values_raise_only_estimator_errors(changes):
    d = {"model_type": "custom", "num_hidden_layers": 2, "hidden_size": 64, "vocab_size": 100,
         "intermediate_size": 128, **changes}
    try:
        single_gpu.estimate(d)
    except EstimatorError as e:
        _short_one_line(e)


@FAST
@given(st.dictionaries(st.sampled_from(list(OPTION_FIELDS)), SCALARS, max_size=3))
def test_option_values_raise_only_estimator_errors_and_json_is_strict(options):
    try:
        r = single_gpu.estimate("mixtral-8x7b", **options)
    except EstimatorError as e:
        _short_one_line(e)
        return
    text = formats.render(r, "json")
    json.loads(text, parse_constant=pytest.fail)
    assert "NaN" not in text and "Infinity" not in text


@FAST
@given(st.one_of(st.text(max_size=300), st.binary(max_size=200).map(
    lambda b: b.decode("latin-1")), st.sampled_from([
        "a: &a [*a]", "{" * 200, "x: !!python/object/apply:os.system [ls]",
        "a: 1" + "0" * 100, '{"a": 1e999}', "- &x [1, 2]\n- *x\n- *y"])))
def test_parse_text_raises_only_estimator_errors(text):
    for fmt in (None, "json"):
        try:
            parse_text(text, "pasted", fmt)
        except EstimatorError as e:
            _short_one_line(e)


@FAST
@given(VALUES)
def test_error_messages_are_short_for_any_value(value):
    _short_one_line(EstimatorError("field", value, "bad"))


@FAST
@given(st.dictionaries(st.sampled_from(["num_local_experts", "num_experts_per_tok", "batch",
                                        "num_hidden_layers", "seq_len"]),
                       st.lists(SCALARS, min_size=1, max_size=3), min_size=1, max_size=2))
def test_sweep_values_raise_only_estimator_errors(grid):
    try:
        rows = estimator.sweep(estimator.load_model(dict(SMALL)), grid)
    except EstimatorError as e:
        _short_one_line(e)
        return
    json.loads(formats.render_rows(rows, "json"), parse_constant=pytest.fail)


_ACTIVE = re.compile(r"(?<!\\)[\[\]()<>`*_:@$!|]")


@FAST
@given(st.text(max_size=200))
def test_screen_text_is_escaped_and_reversible(text):
    from ui.text import md, unescape

    shown = md(text)
    assert "\n" not in shown and not _ACTIVE.search(shown.replace("\\\\", ""))
    assert unescape(shown) == text.replace("\r", " ").replace("\n", " ").replace("\u2060", "")
    assert not re.search(r"(?i)www\.|://|@(?!\u2060)", shown)  # autolinks broken


def test_strict_json_helper_names_what_it_replaced():
    d = json.loads(formats.dumps_strict({"x": [math.inf]}))
    assert d == {"x": [None], "non_finite_replaced_by_null": ["x.0"]}

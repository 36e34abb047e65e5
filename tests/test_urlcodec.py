"""The share-link codec (ui/urlcodec.py): state → query parameters → state, and malformed links.

The round trips are checked on every preset's real spec (MLA, MoA, sliding windows, interleaved
MoE layers, shared experts) and on random edits; malformed links must never raise and must say
which parameter was dropped.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

import estimator
from estimator.errors import EstimatorError
from estimator.options import OPTION_FIELDS
from ui.urlcodec import (
    DEFAULT_PRESET,
    MAX_PARAMS,
    State,
    apply_arch,
    custom_fields,
    decode,
    diff_fields,
    encode,
    format_layers,
    parse_layers,
)

PRESETS = estimator.list_presets()


def roundtrip(state: State) -> tuple[State, list[str]]:
    params = encode(state)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    return decode(params, PRESETS)


def test_default_state_is_the_default_preset():
    state, msgs = decode({}, PRESETS)
    assert state == State() and state.model == DEFAULT_PRESET and msgs == []


@pytest.mark.parametrize("slug", PRESETS)
def test_whole_spec_round_trips_for_every_preset(slug):
    """A custom model travels as its full field set; rebuilding it gives the identical spec."""
    spec = estimator.load_model(slug).spec
    state = State(model="custom", arch=custom_fields(spec))
    back, msgs = roundtrip(state)
    assert msgs == []
    rebuilt = apply_arch(None, back.arch)
    assert rebuilt == spec
    assert estimator.count_params(rebuilt) == estimator.count_params(spec)


def _random_edit(spec, rng):
    """A valid random edit: width, k, layers, a flag and (when present) an MLA sub-field."""
    changes = {"hidden_size": spec.hidden_size + 128 * rng.randint(1, 4),
               "tie_word_embeddings": not spec.tie_word_embeddings}
    if spec.is_moe:
        lo, hi = 1, spec.num_experts
        if spec.num_zero_experts:  # LongCat-Flash: real experts among the router's top-k
            lo = max(1, spec.router_top_k - spec.num_zero_experts)
            hi = min(spec.router_top_k, spec.num_experts)
        changes["num_experts_per_tok"] = rng.randint(lo, hi)
        L = spec.num_hidden_layers
        changes["moe_layers"] = tuple(sorted(rng.sample(range(L), rng.randint(1, L))))
        if not spec.intermediate_size:
            changes["intermediate_size"] = 1024
    if spec.mla is not None:
        changes["mla"] = dataclasses.replace(spec.mla, kv_lora_rank=256)
    if spec.sliding_window is not None:
        changes["sliding_window"] = None
        changes["sliding_window_layers"] = ()
    return spec.replace(**changes)


@pytest.mark.parametrize("slug", PRESETS)
def test_edits_round_trip(slug):
    base = estimator.load_model(slug).spec
    rng = random.Random(slug)
    edited = _random_edit(base, rng)
    opts = {"batch": rng.randint(2, 64), "dtype": "fp8", "flash_attention": False,
            "train_tokens": 3.5e12, "mfu": 0.45}
    state = State(model=slug, arch=diff_fields(base, edited), options=opts)
    back, msgs = roundtrip(state)
    assert msgs == []
    assert back.model == slug and back.options == opts
    assert apply_arch(base, back.arch) == edited


def test_options_at_default_are_left_out_of_the_link():
    defaults = {k: f.default for k, f in OPTION_FIELDS.items()}
    params = encode(State(options=defaults))
    assert params == {"model": DEFAULT_PRESET}


def test_every_option_round_trips_a_non_default_value():
    for name, f in OPTION_FIELDS.items():
        md = f.metadata
        if md["choices"]:
            value = next(c for c in md["choices"] if c != f.default)
        elif md["kind"] is bool:
            value = not f.default
        elif md["kind"] is int:
            value = f.default + 1
        elif md["kind"] is float:
            value = min(f.default * 0.5 + 0.25, md["maximum"] or 1e30)
            if value < (md["minimum"] or 0) or value == f.default:  # e.g. a ratio >= 1
                value = min(f.default + 0.5, md["maximum"] or 1e30)
        elif name == "gpu":
            continue  # free text: checked against the catalog when estimated, not here
        else:
            value = "x"
        back, msgs = roundtrip(State(options={name: value}))
        assert msgs == [] and back.options == {name: value}, name


@pytest.mark.parametrize("params, field", [
    ({"batch": "abc"}, "batch"),
    ({"batch": "0"}, "batch"),
    ({"dtype": "fp7"}, "dtype"),
    ({"mfu": "nan"}, "mfu"),
    ({"mfu": "2"}, "mfu"),
    ({"flash_attention": "maybe"}, "flash_attention"),
    ({"a.num_experts": "eight"}, "num_experts"),
    ({"a.moe_layers": "0-x"}, "moe_layers"),
    ({"a.moe_layers": "5-3"}, "moe_layers"),
    ({"a.mla.bogus": "1"}, "mla.bogus"),
    ({"a.mla": "yes"}, "mla"),
    ({"a.nonsense": "1"}, "nonsense"),
    ({"whatever": "1"}, "whatever"),
    ({"model": "gpt-9"}, "gpt-9"),
])
def test_malformed_parameter_falls_back_with_a_message_naming_it(params, field):
    state, msgs = decode(params, PRESETS)
    assert len(msgs) == 1 and field in msgs[0]
    assert state.options == {} and state.arch == {}
    assert state.model == DEFAULT_PRESET


def test_good_parameters_survive_next_to_bad_ones():
    state, msgs = decode({"model": "deepseek-v3", "batch": "8", "seq_len": "-5",
                          "a.num_experts_per_tok": "4"}, PRESETS)
    assert state.model == "deepseek-v3" and state.options == {"batch": 8}
    assert state.arch == {"num_experts_per_tok": 4}
    assert len(msgs) == 1 and "seq_len" in msgs[0]


def test_repeated_key_last_wins_and_oversized_links_are_refused():
    state, _ = decode({"batch": ["2", "16"]}, PRESETS)
    assert state.options == {"batch": 16}
    state, msgs = decode({f"k{i}": "1" for i in range(MAX_PARAMS + 1)}, PRESETS)
    assert state == State() and len(msgs) == 1
    state, msgs = decode({"a.name": "x" * 10_000}, PRESETS)
    assert state == State() and "too long" in msgs[0]


def test_decode_never_raises_on_garbage():
    rng = random.Random(0)
    alphabet = "ab01-,.|%<>&=;:'\" \x00é"
    keys = ["model", "batch", "a.moe_layers", "a.mla.kv_lora_rank", "a.sliding_window", "mfu",
            "a.notes", "gpu", "a.mla"]
    for _ in range(500):
        params = {rng.choice(keys): "".join(rng.choice(alphabet)
                                            for _ in range(rng.randint(0, 12)))
                  for _ in range(rng.randint(1, 5))}
        state, msgs = decode(params, PRESETS)
        assert isinstance(state, State) and all(isinstance(m, str) for m in msgs)


def test_layer_ranges_round_trip():
    rng = random.Random(1)
    for _ in range(200):
        idx = tuple(sorted(rng.sample(range(200), rng.randint(0, 60))))
        assert parse_layers(format_layers(idx)) == idx
    assert format_layers(tuple(range(32))) == "0-31"
    assert format_layers((1, 3, 4, 5, 9)) == "1,3-5,9"
    for bad in ("a", "3-1", "-1", "1,,x"):
        with pytest.raises(ValueError):
            parse_layers(bad)


def test_impossible_arch_in_a_link_is_an_estimator_error_naming_the_field():
    base = estimator.load_model("mixtral-8x7b").spec
    state, msgs = decode({"a.num_experts_per_tok": "9"}, PRESETS)  # well-formed, impossible
    assert msgs == []
    with pytest.raises(EstimatorError) as e:
        apply_arch(base, state.arch)
    assert e.value.field == "num_experts_per_tok"
    with pytest.raises(EstimatorError):
        apply_arch(None, {"hidden_size": 8})  # custom model with required fields missing

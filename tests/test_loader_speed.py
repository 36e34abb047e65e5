"""One loading path for presets, files and dicts; and the speed promises."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import estimator
from estimator.presets import list_presets

ROOT = Path(__file__).resolve().parent.parent


def test_preset_and_its_config_json_load_to_the_same_spec(tmp_path):
    for slug in list_presets():
        m = estimator.load_model(slug)
        p = tmp_path / slug / "config.json"
        p.parent.mkdir()
        p.write_text(json.dumps(m.hf_config))
        from_file = estimator.load_model(str(p))
        assert from_file.spec.replace(name=m.spec.name) == m.spec, slug
        assert estimator.load_model(dict(m.hf_config)).spec.replace(name=m.spec.name) == m.spec


def test_preset_names_are_lowercase_slugs():
    for slug in list_presets():
        assert slug == slug.lower() and " " not in slug
    assert estimator.load_model("Mixtral-8x7B").name == "mixtral-8x7b"


def test_custom_spec_fields_round_trip(tmp_path):
    spec = estimator.load_model("deepseek-v2-lite").spec
    d = spec.to_dict()
    d["model_type"] = "custom"
    p = tmp_path / "mine.yaml"
    import yaml

    p.write_text(yaml.safe_dump(d))
    back = estimator.load_model(str(p)).spec
    assert back.replace(model_type=spec.model_type) == spec


def test_unknown_preset_key_is_rejected(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("name: x\nconfig: {model_type: llama}\nflavour: vanilla\n")
    with pytest.raises(estimator.EstimatorError, match="flavour"):
        estimator.load_model(str(p))


def test_import_is_light_and_fast():
    code = ("import time, sys; t = time.perf_counter(); import estimator; "
            "dt = time.perf_counter() - t; "
            "print(dt, [m for m in ('torch', 'streamlit', 'plotly') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split(" ", 1)
    assert out[1].strip() == "[]"
    assert float(out[0]) < 0.5


def _best_seconds(fn, rounds: int = 20, calls: int = 100) -> float:
    """Best (over ``rounds``) mean wall seconds per ``fn()``: a busy machine slows some rounds,
    never speeds one up."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls)
    return best


def test_full_estimate_is_microseconds():
    m = estimator.load_model("mixtral-8x7b")
    best = _best_seconds(lambda: estimator.estimate(m))
    # History: 82 µs on a quiet hour of this 2-core shared VM (104–112 µs on a slower one),
    # then 150–160 µs once the report gained the automatic serving layout, the engine's
    # start-up figures, the latency model and the predicted training step (bar 200 µs). Now
    # ~40 µs (2026-12-05, machine shared with other jobs): the layout search reads the busiest
    # GPU alone, and training and serving are computed on their first read (the full report's
    # bar below covers them). Bar at ~2.5x the measured figure: it catches a regression, not
    # the hour of the day.
    assert best < 100e-6, f"{best * 1e6:.1f} µs"


def test_full_report_is_under_half_a_millisecond():
    """estimate().to_dict() of a workload seen before (the app re-rendering): every section,
    the dense-vs-MoE rows and the GPU plan, the per-workload memos answering."""
    m = estimator.load_model("mixtral-8x7b")
    best = _best_seconds(lambda: estimator.estimate(m).to_dict(), rounds=10, calls=30)
    # ~450 µs measured (2026-12-05 morning; bar 1.2 ms), ~150 µs since the training and
    # serving sections are remembered per workload (2026-12-05 12:30, machine shared with
    # other jobs); bar at ~3x
    assert best < 0.45e-3, f"{best * 1e6:.1f} µs"


def test_full_report_of_a_new_workload_is_under_a_few_milliseconds():
    """estimate().to_dict() with a context never seen before on every call (the app's context
    slider): no per-workload memo answers, so this is the bar that covers computing training
    (the step-time model), serving and the dense rows (estimate() alone defers the first two;
    the test above reads them remembered)."""
    m = estimator.load_model("mixtral-8x7b")
    seq = iter(range(100_000, 200_000))
    best = _best_seconds(lambda: estimator.estimate(m, seq_len=next(seq)).to_dict(), rounds=10,
                         calls=30)
    # ~800 µs measured (2026-12-05 12:30, machine shared with other jobs); bar at ~3x
    assert best < 2.5e-3, f"{best * 1e6:.1f} µs"

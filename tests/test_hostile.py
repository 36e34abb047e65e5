"""Hostile and careless input through the API and the CLI (issue 10).

Every case is refused before any work starts, as an ``EstimatorError`` naming the field (the
CLI: exit status 2, one line on stderr, no traceback), within the budgets of
``estimator/limits.py``; JSON output is strict.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)

import estimator
from estimator import cli, limits
from estimator.errors import EstimatorError
from estimator.presets import parse_text, read_file

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"model_type": "mixtral", "hidden_size": 64, "intermediate_size": 128,
         "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
         "num_local_experts": 4, "num_experts_per_tok": 2, "vocab_size": 100}
CUSTOM = "model_type: custom\nnum_hidden_layers: 2\nhidden_size: 64\nvocab_size: 100\n" \
         "intermediate_size: 128\n"


def run_cli(*args: str, capsys) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# --- the error formatter ---------------------------------------------------------------------

def test_error_message_never_reprs_a_huge_value():
    huge = 10 ** 100_000  # repr() of > 4300 digits raises ValueError
    e = EstimatorError("hidden_size", huge, "must be <= 10,000,000")
    assert "digits" in str(e) and len(str(e)) < 200
    bomb: list = ["x"]
    for _ in range(60):  # 2^60 leaves if walked
        bomb = [bomb, bomb]
    t0 = time.perf_counter()
    assert len(str(EstimatorError("config", bomb, "bad"))) < 200
    assert time.perf_counter() - t0 < 3.0
    rec: list = []
    rec.append(rec)
    assert "config" in str(EstimatorError("config", rec, "bad"))


# --- parsing budgets -------------------------------------------------------------------------

@pytest.mark.parametrize("text, fmt", [
    ('{"model_type": "mixtral", "hidden_size": 1' + "0" * 5000 + "}", "json"),
    ("model_type: mixtral\nhidden_size: 1" + "0" * 5000 + "\n", None),
    ('{"hidden_size": 1e999}', "json"),
    ('{"hidden_size": NaN}', "json"),
])
def test_numbers_with_thousands_of_digits_or_not_finite_are_refused(text, fmt):
    with pytest.raises(EstimatorError, match="config.json"):
        parse_text(text, "config.json", fmt)


def test_yaml_alias_bomb_is_refused_before_it_is_built():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("model_type: *a11")
    t0 = time.perf_counter()
    with pytest.raises(EstimatorError, match="too many values"):
        parse_text("\n".join(lines), "bomb.yaml")
    assert time.perf_counter() - t0 < 3.0
    merge = ["m0: &m0 {k0: 1, k1: 1}"]  # merge keys expand too
    for i in range(1, 30):
        merge.append(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], x{i}: 1}}")
    with pytest.raises(EstimatorError, match="too many values"):
        parse_text("\n".join(merge), "merge.yaml")


def test_recursive_and_deep_documents_are_refused():
    with pytest.raises(EstimatorError, match="recursive"):
        parse_text("a: &a [*a]\n", "rec.yaml")
    with pytest.raises(EstimatorError, match="nested too deeply"):
        parse_text("[" * 100_000 + "]" * 100_000, "deep.json", "json")
    with pytest.raises(EstimatorError, match="nested too deeply"):
        parse_text("a: " + "[" * 500 + "]" * 500, "deep.yaml")


def test_long_lists_and_strings_are_refused_naming_the_key():
    with pytest.raises(EstimatorError, match="layer_types"):
        parse_text(json.dumps({"layer_types": [0] * (limits.MAX_LIST_LEN + 1)}), "c.json")
    with pytest.raises(EstimatorError, match="model_type"):
        parse_text(json.dumps({"model_type": "x" * (limits.MAX_STRING_CHARS + 1)}), "c.json")


# --- files: regular files only, read with a cap, never blocking -------------------------------

def test_symlink_loop_is_a_clean_error(tmp_path):
    loop = tmp_path / "config.json"
    os.symlink(loop, loop)
    with pytest.raises(EstimatorError, match="unreadable"):
        estimator.load_model(str(loop))


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_never_read(path):
    if not os.path.exists(path):
        pytest.skip(path)
    with pytest.raises(EstimatorError, match="not a regular file"):
        read_file(path)


def test_a_fifo_never_blocks(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    # a subprocess, so a regression fails the test instead of hanging the suite
    r = subprocess.run([sys.executable, "-m", "estimator", "report", str(fifo)], cwd=ROOT,
                       capture_output=True, text=True, timeout=30)
    one_line_error(r.returncode, r.stderr, "not a regular file")


# --- architecture bounds and types ------------------------------------------------------------

@pytest.mark.parametrize("field, value, limit", [
    ("num_hidden_layers", 10 ** 7, limits.MAX_LAYERS),
    ("num_local_experts", 10 ** 7, limits.MAX_EXPERTS),
    ("num_attention_heads", 10 ** 6, limits.MAX_HEADS),
])
def test_layers_experts_heads_are_bounded(field, value, limit):
    t0 = time.perf_counter()
    with pytest.raises(EstimatorError, match=f"{field}=.*<= {limit:,}"):
        single_gpu.estimate({**SMALL, field: value})
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("extra, field", [
    ("mla: 5\n", "mla"), ("moa: [1]\n", "moa"), ("notes: 5\n", "notes"),
    ("notes: [1, 2]\n", "notes"),
])
def test_custom_spec_blocks_of_the_wrong_type(tmp_path, capsys, extra, field):
    path = _write(tmp_path, "spec.yaml", CUSTOM + extra)
    with pytest.raises(EstimatorError, match=field):
        single_gpu.estimate(path)
    one_line_error(*run_cli("report", path, capsys=capsys)[::2], field)


def test_spec_built_directly_with_wrong_block_types_is_an_estimator_error():
    base = estimator.load_model(dict(SMALL)).spec
    for kw in (dict(mla={"kv_lora_rank": 1}), dict(moa=3), dict(notes="a note"),
               dict(notes=tuple(str(i) for i in range(1000)))):
        with pytest.raises(EstimatorError):
            base.replace(**kw)


def test_dense_equivalents_of_a_non_spec_is_an_estimator_error():
    for bad in (5, {"hidden_size": 1}, "mixtral-8x7b"):
        with pytest.raises(EstimatorError, match="ModelSpec"):
            estimator.dense_equivalents(bad)


def test_importer_type_confusion_is_an_estimator_error():
    for bad in ({**SMALL, "rope_scaling": [1, 2]}, {**SMALL, "layer_types": {"a": 1}},
                {"model_type": "llama4", "text_config": {**SMALL, "model_type": "x",
                                                         "moe_layers": "abc"}}):
        try:
            single_gpu.estimate(bad)
        except EstimatorError:
            pass


# --- options: every figure stays finite, JSON is strict ---------------------------------------

@pytest.mark.parametrize("flag, value", [
    ("--capacity-factor", "1e300"), ("--price-per-gpu-hour", "1e300"), ("--tp", "10" * 40),
    ("--mfu", "inf"), ("--train-tokens", "1e400"),
])
def test_absurd_options_are_refused_naming_them(capsys, flag, value):
    code, out, err = run_cli("report", "mixtral-8x7b", flag, value, "--format", "json",
                             capsys=capsys)
    one_line_error(code, err, flag.lstrip("-").replace("-", "_"))
    assert out == ""


def test_python_api_refuses_overflowing_options():
    for kw in (dict(capacity_factor=1e308), dict(price_per_gpu_hour=1e308), dict(tp=10 ** 400),
               dict(batch=10 ** 5000)):
        with pytest.raises(EstimatorError, match=next(iter(kw))):
            single_gpu.estimate("mixtral-8x7b", **kw)


def test_json_output_is_strict():
    from estimator.formats import dumps_strict

    r = single_gpu.estimate("mixtral-8x7b", capacity_factor=1000.0, price_per_gpu_hour=1e6,
                           train_tokens=1e18, seq_len=100_000_000, batch=1_000_000)
    text = estimator.formats.render(r, "json")
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    d = json.loads(dumps_strict({"a": math.inf, "b": [1.0, math.nan]}))
    assert d == {"a": None, "b": [1.0, None], "non_finite_replaced_by_null": ["a", "b.1"]}


# --- sweeps ------------------------------------------------------------------------------------

def test_sweep_grid_is_bounded_before_it_runs(capsys):
    many = ",".join(str(i) for i in range(1, 1001))
    t0 = time.perf_counter()
    code, _, err = run_cli("sweep", "mixtral-8x7b", "--vary", f"batch={many}", "--vary",
                           f"seq_len={many}", capsys=capsys)
    one_line_error(code, err, "grid", f"{limits.MAX_SWEEP_POINTS:,}")
    assert time.perf_counter() - t0 < 5
    with pytest.raises(EstimatorError, match="too many values"):
        estimator.sweep("mixtral-8x7b", {"batch": list(range(1, limits.MAX_SWEEP_VALUES + 2))})
    with pytest.raises(EstimatorError, match="grid"):
        estimator.sweep("mixtral-8x7b", 5)
    code, _, err = run_cli("sweep", "mixtral-8x7b", "--vary", "batch=1" + "0" * 5000,
                           capsys=capsys)
    one_line_error(code, err, "--vary")


def test_sweep_value_of_the_wrong_type_is_an_estimator_error():
    with pytest.raises(EstimatorError, match="num_local_experts"):
        estimator.sweep("mixtral-8x7b", {"num_local_experts": [[8], 8]})
    rows = estimator.sweep("mixtral-8x7b", {"num_local_experts": ["many", 8]})
    assert rows[0]["error"] and not rows[1]["error"]


# --- validate ----------------------------------------------------------------------------------

def test_validate_output_to_a_directory_is_refused_before_measuring(tmp_path, capsys):
    pytest.importorskip("torch")
    code, _, err = run_cli("validate", "--quick", "--output", str(tmp_path), capsys=capsys)
    one_line_error(code, err, "--output", "directory")
    code, _, err = run_cli("validate", "--bogus", capsys=capsys)
    one_line_error(code, err)


@pytest.mark.parametrize("bad", [{"hidden_size": 1}, 42, None, "mixtral-8x7b"])
def test_count_params_of_a_non_spec_is_an_estimator_error(bad):
    from estimator.params import count_params

    with pytest.raises(EstimatorError, match="spec="):
        count_params(bad)

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


# --- encodings a config file is saved in (Windows editors, PowerShell) --------------------------

@pytest.mark.parametrize("encoding, bom", [
    ("utf-8", b"\xef\xbb\xbf"),   # Notepad's "UTF-8 with BOM"
    ("utf-16-le", b"\xff\xfe"),   # PowerShell 5 `>` / Out-File
    ("utf-16-be", b"\xfe\xff"),
    ("utf-32-le", b"\xff\xfe\x00\x00"),
])
def test_config_with_a_byte_order_mark_reads_as_without(tmp_path, capsys, encoding, bom):
    plain = estimator.load_model(dict(SMALL)).spec
    path = tmp_path / "config.json"
    path.write_bytes(bom + json.dumps(SMALL).encode(encoding))
    assert estimator.load_model(str(path)).spec.replace(name=plain.name) == plain
    code, out, err = run_cli("report", str(path), "--format", "json", capsys=capsys)
    assert code == 0 and err == ""


def test_pasted_text_with_a_byte_order_mark_parses():
    assert parse_text("\ufeff" + json.dumps(SMALL), "pasted", "json") == SMALL


@pytest.mark.parametrize("raw, needle", [
    (json.dumps(SMALL).encode("utf-16-le"), "NUL bytes"),  # UTF-16 without its BOM
    (b"\xff\xfe" + b"\x00\xd8", "UTF-16"),                  # a lone surrogate after the BOM
    (b"\x80\x81{}", "not UTF-8"),
])
def test_undecodable_config_is_one_clear_line(tmp_path, capsys, raw, needle):
    path = tmp_path / "config.json"
    path.write_bytes(raw)
    one_line_error(*run_cli("report", str(path), capsys=capsys)[::2], "config.json", needle)


def test_duplicate_keys_take_the_last_value_as_json_load_does():
    # transformers reads config.json with json.load: the last duplicate wins there too
    text = '{"num_hidden_layers": 7, ' + json.dumps(SMALL)[1:]
    assert json.loads(text)["num_hidden_layers"] == SMALL["num_hidden_layers"]
    m = estimator.load_model(parse_text(text, "config.json", "json"))
    assert m.spec.num_hidden_layers == SMALL["num_hidden_layers"]


# --- preset files: published figures and names --------------------------------------------------

@pytest.mark.parametrize("extra, field", [
    ({"published": {"total_params": "46.7B"}}, "published.total_params"),
    ({"published": {"total_params": 1e300}}, "published.total_params"),
    ({"published": {"active_params": -5}}, "published.active_params"),
    ({"published": {"active_params": True}}, "published.active_params"),
    ({"published": {"convention": ["with_embedding"]}}, "published.convention"),
    ({"published": {"convention": "most"}}, "published.convention"),
    ({"published": {"citation": {"url": "x"}}}, "published.citation"),
    ({"name": ["x"]}, "name"),
    ({"display_name": {"a": 1}}, "display_name"),
    ({"source": 5}, "source"),
])
def test_preset_file_with_bad_published_figures_or_names(tmp_path, capsys, extra, field):
    path = tmp_path / "preset.json"
    path.write_text(json.dumps({"name": "x", "config": SMALL, **extra}))
    with pytest.raises(EstimatorError, match=field.replace(".", r"\.")):
        estimator.load_model(str(path))
    one_line_error(*run_cli("report", str(path), capsys=capsys)[::2], field)


def test_preset_file_published_figures_that_are_fine():
    m = estimator.load_model({"name": "x", "config": SMALL, "published": {
        "total_params": 4.67e10, "active_params": None, "convention": "unknown"}})
    assert m.published["total_params"] == 4.67e10


# --- options -----------------------------------------------------------------------------------

FLOAT_OPTIONS = [n for n, f in estimator.options.OPTION_FIELDS.items()
                 if f.metadata["kind"] is float]


@pytest.mark.parametrize("name", FLOAT_OPTIONS)
@pytest.mark.parametrize("value", [10 ** 400, -(10 ** 400)], ids=["huge", "minus-huge"])
def test_float_option_given_a_huge_integer_names_it(name, value):
    # math.isnan(10**400) raises OverflowError: the bound must refuse it first
    with pytest.raises(EstimatorError, match=f"^{name}="):
        estimator.make_options(**{name: value})


def test_lfm2_ffn_multiplier_that_overflows_is_named():
    cfg = {"model_type": "lfm2", "hidden_size": 64, "intermediate_size": 192,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "vocab_size": 100, "block_auto_adjust_ff_dim": True, "block_multiple_of": 16}
    estimator.load_model({**cfg, "block_ffn_dim_multiplier": 1.5})
    for bad in (math.inf, 1e308, 10 ** 400, -1.0, "1.5"):
        with pytest.raises(EstimatorError, match="block_ffn_dim_multiplier"):
            estimator.load_model({**cfg, "block_ffn_dim_multiplier": bad})


# --- the other entry points of the API: wrong types are named, never a TypeError --------------

@pytest.mark.parametrize("call, field", [
    (lambda: estimator.what_if("mixtral-8x7b", quant=5), "quant"),
    (lambda: estimator.what_if("mixtral-8x7b", quant=["int8"] * 65), "quant"),
    (lambda: estimator.what_if("mixtral-8x7b", lora_targets=5), "lora_targets"),
    (lambda: estimator.what_if("mixtral-8x7b", kv_variants=[5]), "kv_variants"),
    (lambda: estimator.plan("mixtral-8x7b", num_gpus=8, top="x"), "top"),
    (lambda: estimator.plan("mixtral-8x7b", num_gpus=8, top=2.5), "top"),
    (lambda: estimator.plan("mixtral-8x7b", num_gpus=8, top=0), "top"),
])
def test_api_keywords_of_the_wrong_type_are_named(call, field):
    with pytest.raises(EstimatorError, match=f"^{field}="):
        call()


@pytest.mark.parametrize("kw, field", [
    (dict(ttft_slo_s=-1), "ttft_slo"), (dict(ttft_slo_s=math.nan), "ttft_slo"),
    (dict(tpot_slo_s="1"), "tpot_slo"), (dict(concurrencies=[]), "concurrencies"),
    (dict(concurrencies=[0]), "concurrencies"), (dict(concurrencies=["a"]), "concurrencies"),
    (dict(concurrencies=list(range(1, 100_000))), "concurrencies"),
    (dict(concurrencies=[10 ** 12]), "concurrency"), (dict(max_gpus="x"), "max_gpus"),
])
def test_serving_search_arguments_are_checked_before_any_estimate(kw, field):
    from estimator.frontier import pareto, serving_table

    t0 = time.perf_counter()
    with pytest.raises(EstimatorError, match=f"^{field}="):
        pareto("mixtral-8x7b", **kw)
    if "concurrencies" in kw:
        with pytest.raises(EstimatorError, match=f"^{field}="):
            serving_table("mixtral-8x7b", **kw)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_cli_frontier_slo_out_of_range(capsys, value):
    one_line_error(*run_cli("serve", "mixtral-8x7b", "--frontier", "--ttft-slo", value,
                            capsys=capsys)[::2], "ttft_slo")


# --- CSV exports: a user's string never becomes a spreadsheet formula --------------------------

FORMULAS = ("=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@HYPERLINK(\"http://x\")", "\t=1")


def _csv_cells(text: str) -> list[str]:
    import csv
    import io

    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def test_csv_exports_neutralize_formulas_in_user_strings():
    from estimator import formats
    from estimator.whatif import render

    cfg = {**SMALL, "hidden_size": 128, "intermediate_size": 256}  # int4-g128 rows divide it
    m = estimator.load_model({"name": FORMULAS[0], "display_name": FORMULAS[1],
                              "source": FORMULAS[3], "config": cfg})
    r = single_gpu.estimate(m)
    cells = _csv_cells(formats.render(r, "csv"))
    cells += _csv_cells(formats.render_rows(estimator.sweep(m, {"batch": [1, 2]}), "csv"))
    cells += _csv_cells(render(estimator.what_if(m), "csv"))
    assert "'" + FORMULAS[0] in cells and "'" + FORMULAS[1] in cells
    for c in cells:
        assert not c.startswith(("=", "+", "@", "\t")), c
        assert not c.startswith("-") or _is_number(c), c  # negative numbers stay numbers


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_csv_cell_leaves_numbers_alone():
    from estimator.formats import csv_cell

    assert [csv_cell(v) for v in (-1, -2.5, 0, None, "a", "-x", "=1")] == \
        [-1, -2.5, 0, "", "a", "'-x", "'=1"]


@pytest.mark.parametrize("junk, needle", [
    (list(range(limits.MAX_LIST_LEN + 1)), "list too long"),
    ("x" * (limits.MAX_STRING_CHARS + 1), "string too long"),
    ("nested", "nested too deeply"),
    ("recursive", "nested too deeply"),
])
def test_api_dict_gets_the_budgets_of_a_parsed_file(junk, needle):
    # the dict is kept as the model's hf_config and walked by exports (the app's Model YAML
    # took 97 s and 92 MB for a 10^7-entry list passed through the API)
    if junk == "nested":
        junk = 1
        for _ in range(10_000):
            junk = [junk]
    elif junk == "recursive":
        junk = {}
        junk["x"] = junk
    t0 = time.perf_counter()
    with pytest.raises(EstimatorError, match=needle):
        estimator.load_model({**SMALL, "junk": junk})
    assert time.perf_counter() - t0 < 1.0


# --- safetensors headers and shard indexes ------------------------------------------------------

def _safetensors(path: Path, header: bytes, data: bytes = b"") -> str:
    import struct

    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return str(path)


@pytest.mark.parametrize("header, needle", [
    (b'{"a": {"dtype": ["BF16"], "shape": [2], "data_offsets": [0, 4]}}', "a.dtype"),
    (b'{"a": {"dtype": {"x": 1}, "shape": [2], "data_offsets": [0, 4]}}', "a.dtype"),
    (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
])
def test_hostile_safetensors_header_is_one_line(tmp_path, capsys, header, needle):
    path = _safetensors(tmp_path / "m.safetensors", header, b"\0" * 4)
    with pytest.raises(EstimatorError, match=needle):
        estimator.checkpoint_bytes(path)
    one_line_error(*run_cli("checkpoint", path, capsys=capsys)[::2], needle)


@pytest.mark.parametrize("shard", ["../../etc/passwd", "/etc/passwd", "sub/m.safetensors", 5,
                                   ""])
def test_shard_index_never_points_out_of_the_folder(tmp_path, shard):
    _safetensors(tmp_path / "m.safetensors",
                 b'{"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}', b"\0" * 4)
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "m.safetensors", "b": shard}}))
    with pytest.raises(EstimatorError, match="not a file name in the folder"):
        estimator.checkpoint_bytes(str(tmp_path))


# --- options that made the work or the numbers blow up ------------------------------------------

def test_huge_expert_parallel_size_with_skewed_routing_is_fast():
    # the busiest-rank integral looped over every EP rank: ep = 2,397,929 took minutes
    from estimator import formats

    t0 = time.perf_counter()
    for ep in (2_397_929, 532_135, 10_000_000):
        r = estimator.estimate("minimax-m2", ep=ep, expert_imbalance=0.377)
        formats.render(r, "json")
    assert time.perf_counter() - t0 < 3.0


def test_tiny_given_mfu_is_refused_not_overflowed():
    with pytest.raises(EstimatorError, match="mfu=1e-305: must be 0"):
        estimator.make_options(mfu=1e-305)
    estimator.make_options(mfu=0.0)  # 0 = predicted
    r = single_gpu.estimate("qwen2-57b-a14b", mfu=1e-6, request_rate=5e6, batch=1_000_000,
                            dtype="mxfp4")
    json.loads(estimator.formats.render(r, "json"))

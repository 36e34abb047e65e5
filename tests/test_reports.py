"""Every format carries the whole report: Markdown and HTML have every section of the JSON
(dense vs MoE included), counts print as integers in every format, each key has its unit, and
``--help`` lists the values each choice option accepts."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)

import estimator
from estimator import formats
from estimator.cli import build_parser, main
from estimator.hardware import load_catalog
from estimator.options import DTYPES, KV_DTYPES

MODELS = ("mixtral-8x7b", "deepseek-v3", "llama-3-8b")


@pytest.fixture(scope="module", params=MODELS)
def report(request):
    return single_gpu.estimate(request.param, batch=3, seq_len=1000)


def test_markdown_has_every_section_and_leaf_of_the_json(report):
    d = formats.exact_numbers(report.to_dict())
    md = formats.render(report, "md")
    covered = {"schema", "version", "model", "options", "params"}  # header and Parameters
    covered |= {key.split(".")[0] for _, key in formats.MARKDOWN_SECTIONS}
    assert covered >= set(d), set(d) - covered
    assert "## Dense vs MoE" in md
    if report.model.spec.is_moe:
        assert "| quantity | this model | same-total | same-active |" in md
    for _, key in formats.MARKDOWN_SECTIONS:
        section = d
        for part in key.split("."):
            section = section.get(part, {})
        if not section:
            continue  # e.g. checkpoint: only for a model loaded from a checkpoint folder
        leaves = (formats.flatten(section) if key != "dense_vs_moe" else
                  [(k, v) for r in section["rows"] for k, v in r.items() if k != "label"]
                  + list(formats.flatten(section.get("compute_optimal_dense", {}))))
        for k, v in leaves:
            assert f"| {k.replace('|', '')} |" in md or f"| {k} |" in md, (key, k)
            if isinstance(v, int) and not isinstance(v, bool):
                assert f"{v:,}" in md, (key, k, v)  # the exact value beside the human one


def test_counts_are_integers_in_every_format(report):
    d = json.loads(formats.render(report, "json"))
    f = d["flops"]
    # per-token figures are quotients of exact integers; when they divide, they are integers
    assert isinstance(f["forward_per_token"], int)
    assert f["forward_per_token"] * f["tokens"] == f["forward"]
    for k in ("training_per_token", "training_model_flops_per_token",
              "training_hardware_per_token", "recompute_per_token"):
        assert isinstance(f[k], int), k
    for row in d["dense_vs_moe"]["rows"]:
        assert isinstance(row["forward_flops_per_token"], int)
    rows = list(csv.reader(io.StringIO(formats.render(report, "csv"))))[1:]
    md = formats.render(report, "md")
    for key, value in rows:
        if formats.unit_of(key) in ("flops", "params") and re.fullmatch(r"[-0-9.e+]+", value):
            assert "e" not in value and not value.endswith(".0"), (key, value)
    for line in md.splitlines():  # no 1.03968e+11 in the exact column
        assert not re.search(r"\de\+\d+ \|$", line), line


def test_settings_are_not_labelled_as_flops_or_bytes():
    md = formats.render(single_gpu.estimate("mixtral-8x7b"), "md")
    assert "| capacity_factor | 0 |" in md
    assert "FLOP" not in next(line for line in md.splitlines() if "capacity_factor" in line)
    units = {"flops.capacity_factor": "", "options.capacity_factor": "",
             "options.adam_bytes": "", "conventions.adam_bytes_per_param": "",
             "gpu.bandwidth_bytes_s": "bytes/s", "gpu.bf16_flops": "flop/s",
             "gpu.memory_bytes": "bytes", "flops.forward_per_token": "flops",
             "dense_vs_moe.rows.total_params": "params",
             "dense_vs_moe.rows.inference_bytes_per_gpu": "bytes",
             "dense_vs_moe.rows.intermediate_size": "", "training.gpu_hours": "",
             "serving.bandwidth_per_gpu": "bytes/s", "serving.prefill.seconds": "s"}
    for key, unit in units.items():
        assert formats.unit_of(key) == unit, key


def test_exact_numbers_keeps_fractions_and_huge_floats():
    d = {"flops": {"a_per_token": 12.0, "b_per_token": 12.5, "huge": float(2**60),
                   "capacity_factor": 1.0}}
    out = formats.exact_numbers(d)["flops"]
    assert out["a_per_token"] == 12 and isinstance(out["a_per_token"], int)
    assert out["b_per_token"] == 12.5
    assert isinstance(out["huge"], float)  # past 2^53 a float cannot vouch for its last digits
    assert isinstance(out["capacity_factor"], float)


def test_html_export_has_every_section_with_exact_integers(report):
    exports = pytest.importorskip("ui.exports")
    d = report.to_dict()
    page = exports.to_html(report)
    keys = {key.split(".")[0] for _, key in exports.SECTIONS} | {"schema", "version"}
    assert keys >= set(d), set(d) - keys
    fpt = formats.exact_numbers(d)["flops"]["forward_per_token"]
    assert f"{fpt:,}" in page and f"{float(fpt):,.6g}" not in page


def test_help_lists_allowed_values(capsys):
    parser = build_parser()
    text = next(a for a in parser._subparsers._group_actions[0].choices.items()
                if a[0] == "report")[1].format_help()
    flat = " ".join(text.split())
    for dtype in DTYPES:
        assert dtype in flat
    assert "one of: " + ", ".join(KV_DTYPES) in flat
    for gpu in load_catalog():
        assert gpu in flat
    for value in ("adamw_8bit", "pytorch_eager", "selective"):
        assert value in flat
    assert main(["report", "mixtral-8x7b", "--gpu", "h9000"]) == 2
    assert "h100-sxm" in capsys.readouterr().err  # the error lists them too


def test_sweep_rows_print_counts_as_integers():
    rows = estimator.sweep("mixtral-8x7b", {"num_experts_per_tok": [1, 2]})
    text = formats.render_rows(rows, "csv")
    parsed = list(csv.DictReader(io.StringIO(text)))
    for r in parsed:
        for k in ("forward_flops_per_token", "training_flops_per_token", "total_params"):
            assert re.fullmatch(r"\d+", r[k]), (k, r[k])
    assert int(parsed[1]["forward_flops_per_token"]) == \
        single_gpu.estimate("mixtral-8x7b").to_dict()["flops"]["forward_per_token"]
    assert json.loads(formats.render_rows(rows, "json"))[0]["forward_flops_per_token"] == \
        int(parsed[0]["forward_flops_per_token"])

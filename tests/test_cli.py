"""The CLI contract: JSON report numbers, and every class of bad input → exit 2, one line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estimator", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_report_json_mixtral_headline():
    # Published anchor (REFERENCE.md §1; transformers meta-device count): 46,702,792,704 total,
    # 12,879,925,248 active with top-2 of 8 experts.
    r = run("report", "mixtral-8x7b", "--format", "json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["params"]["total"] == 46_702_792_704
    assert d["params"]["active"] == 12_879_925_248
    assert set(d["params"]["breakdown"]) >= {"embedding", "attention", "router",
                                            "routed_experts", "lm_head"}
    assert d["options"]["batch"] == 1 and d["version"]


def test_report_md_and_csv():
    md = run("report", "mixtral-8x7b", "--format", "md")
    assert md.returncode == 0 and "46,702,792,704" in md.stdout
    csv = run("report", "mixtral-8x7b", "--format", "csv")
    assert csv.returncode == 0
    assert "params.total,46702792704" in csv.stdout.splitlines()


def test_report_on_scout_instruct_context_and_kimi_style_config(tmp_path):
    """The Llama-4-Scout preset's config with the Instruct release's 10,485,760-token context,
    and a config whose model_type is unknown but whose architectures is supported, both
    report (exit 0); the fallback is named in model.notes."""
    import yaml

    scout = yaml.safe_load((ROOT / "configs/models/llama-4-scout.yaml").read_text())["config"]
    scout["text_config"]["max_position_embeddings"] = 10_485_760
    r = run("report", _write(tmp_path, "scout.json", json.dumps(scout)), "--format", "json")
    assert r.returncode == 0, r.stderr
    kimi = {"model_type": "kimi_k2", "architectures": ["DeepseekV3ForCausalLM"],
            "hidden_size": 64, "intermediate_size": 96, "moe_intermediate_size": 32,
            "num_hidden_layers": 3, "num_attention_heads": 4, "vocab_size": 100,
            "n_routed_experts": 8, "num_experts_per_tok": 2}
    r = run("report", _write(tmp_path, "kimi.json", json.dumps(kimi)), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert any("DeepseekV3ForCausalLM" in n for n in json.loads(r.stdout)["model"]["notes"])


def test_list_shows_every_preset():
    r = run("list")
    assert r.returncode == 0, r.stderr
    slugs = {line.split()[0] for line in r.stdout.splitlines()}
    assert {"mixtral-8x7b", "deepseek-v3", "qwen3-30b-a3b", "gpt-oss-120b"} <= slugs


def test_list_families_and_a_misspelt_model_type(tmp_path):
    """``list --families`` names every preset's model_type (but those loaded through their
    ``architectures``, like kimi_k2); a misspelt one is refused on one short line that suggests
    the nearest family and says where the full list is."""
    import yaml

    from estimator.hf import ARCHITECTURES

    r = run("list", "--families")
    assert r.returncode == 0, r.stderr
    families = set(r.stdout.split())
    configs = [yaml.safe_load(p.read_text())["config"]
               for p in (ROOT / "configs/models").glob("*.yaml")]
    unlisted = {c["model_type"] for c in configs if c["model_type"] not in families
                and not set(c.get("architectures", ())) & set(ARCHITECTURES)}
    assert not unlisted and "mixtral" in families, unlisted
    r = run("report", _write(tmp_path, "typo.json", json.dumps({"model_type": "mixtrl"})))
    assert r.returncode == 2 and r.stdout == ""
    line, = r.stderr.splitlines()
    assert "model_type='mixtrl'" in line and "did you mean mixtral" in line
    assert "list --families" in line and len(line) < 400


def _write(tmp_path: Path, name: str, content: str | bytes) -> str:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return str(p)


MIXTRAL_SMALL = {"model_type": "mixtral", "hidden_size": 64, "intermediate_size": 128,
                 "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
                 "num_local_experts": 4, "num_experts_per_tok": 2, "vocab_size": 100}


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name → (argv, a word the one-line message must contain)."""
    good = _write(tmp_path, "good.json", json.dumps(MIXTRAL_SMALL))
    k_too_big = dict(MIXTRAL_SMALL, num_experts_per_tok=9)
    no_hidden = {k: v for k, v in MIXTRAL_SMALL.items() if k != "hidden_size"}
    return {
        "unknown preset": (["report", "mixtral-9x9b"], "mixtral-9x9b"),
        "missing file": (["report", str(tmp_path / "nope.json")], "not found"),
        "directory": (["report", str(tmp_path) + "/"], "directory"),
        "not utf-8": (["report", _write(tmp_path, "bin.json", b"\xc3\x28\x00bad")], "UTF-8"),
        "malformed json": (["report", _write(tmp_path, "bad.json", '{"model_type": ')], "JSON"),
        "malformed yaml": (["report", _write(tmp_path, "bad.yaml", "a: [1, 2\nb: }")], "bad.yaml"),
        "python tag yaml": (["report", _write(
            tmp_path, "evil.yaml", "config: !!python/object/apply:os.system ['echo pwned']\n")],
            "not allowed"),
        "huge file": (["report", _write(tmp_path, "huge.json", "{" + " " * 30_000_000 + "}")],
                      "too large"),
        "not a mapping": (["report", _write(tmp_path, "list.json", "[1, 2]")], "mapping"),
        "unknown model_type": (["report", _write(tmp_path, "u.json", '{"model_type": "bert"}')],
                               "bert"),
        "k > E": (["report", _write(tmp_path, "k.json", json.dumps(k_too_big))],
                  "num_experts_per_tok"),
        "missing field": (["report", _write(tmp_path, "m.json", json.dumps(no_hidden))],
                          "hidden_size"),
        "batch 0": (["report", good, "--batch", "0"], "batch"),
        "batch text": (["report", good, "--batch", "abc"], "abc"),
        "seq-len negative": (["report", good, "--seq-len", "-5"], "seq_len"),
        "bad dtype": (["report", good, "--dtype", "fp7"], "fp7"),
        "bad format": (["report", good, "--format", "xml"], "xml"),
        "mfu > 1": (["report", good, "--mfu", "1.5"], "mfu"),
        "nan": (["report", good, "--mfu", "nan"], "mfu"),
        "unknown gpu": (["report", good, "--gpu", "tpu-v9"], "tpu-v9"),
        "unknown flag": (["report", good, "--bogus", "1"], "bogus"),
        "no command": ([], "command"),
        "bad vary": (["sweep", good, "--vary", "num_local_experts"], "FIELD"),
        "vary unknown field": (["sweep", good, "--vary", "wibble=1,2"], "wibble"),
    }


CASES = list(bad_inputs(Path("/tmp")).keys())


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line(case, tmp_path):
    argv, word = bad_inputs(tmp_path)[case]
    t = time.perf_counter()
    r = run(*argv)
    elapsed = time.perf_counter() - t
    assert r.returncode == 2, (case, r.returncode, r.stderr[-500:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, (case, r.stderr)
    assert "Traceback" not in r.stderr
    assert word.lower() in lines[0].lower(), (case, lines[0])
    assert r.stdout == ""
    assert elapsed < 3.0  # "well under a second" of work; the rest is interpreter start-up


def test_python_tag_yaml_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    evil = _write(tmp_path, "evil.yaml",
                  f"config: !!python/object/apply:os.system ['touch {marker}']\n")
    run("report", evil)
    assert not marker.exists()


def test_sweep_csv_rows_and_hf_keys(tmp_path):
    good = _write(tmp_path, "good.json", json.dumps(MIXTRAL_SMALL))
    r = run("sweep", good, "--vary", "num_local_experts=4,8", "--vary",
            "num_experts_per_tok=1,2", "--format", "csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 + 4
    header = lines[0].split(",")
    assert {"num_local_experts", "num_experts_per_tok", "total_params", "active_params"} <= set(
        header)


def test_markdown_units_follow_the_quantity():
    from estimator.formats import to_markdown

    md = to_markdown(single_gpu.estimate("mixtral-8x7b").to_dict())
    rows: dict[str, str] = {}
    for line in md.splitlines():
        if line.startswith("| ") and line.count("|") >= 4:  # first occurrence of each key
            rows.setdefault(line.split("|")[1].strip(), line.split("|")[2].strip())
    assert rows["total"] == "46.70 B"                       # parameters
    assert rows["params_on_gpu.expert"] == "45.10 B"        # parameters, in a memory section
    assert rows["kv_cache_per_token"] == "128.00 KiB"       # 32 layers · 2 · 8 heads · 128 · 2 B
    assert rows["parallel.dp"] == "8"                       # a count, not GiB
    assert rows["bytes_per_param.weights"] == "2"
    assert rows["n_active"] == "12.88 B"
    assert rows["peak_flops_per_gpu"].endswith("TFLOP/s")
    assert rows["bandwidth_per_gpu"] == "3.35 TB/s"         # H100 SXM datasheet
    # the engine's counts and settings sit in the memory section but are not bytes
    e = single_gpu.estimate("mixtral-8x7b").inference.engine
    assert rows["engine.block_size"] == "16"
    assert rows["engine.utilization"] == "0.9"
    assert rows["engine.max_model_len"] == f"{e.max_model_len:,}"
    assert rows["engine.num_blocks"] == f"{e.num_blocks:,}"
    assert rows["engine.kv_capacity_tokens"] == f"{e.kv_capacity_tokens:,}"
    assert rows["engine.max_num_seqs"] == f"{e.max_num_seqs:,}"
    assert rows["engine.page_size"].endswith("KiB")         # a page is bytes

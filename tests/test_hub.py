"""Hugging Face model ids resolve from a local hub cache only (never the network).

Each test builds a cache in a temp folder laid out as huggingface_hub writes it (blobs,
snapshots/<commit>/config.json as a relative symlink, refs/<branch>) and, where huggingface_hub
is installed, checks that its own offline lookup (``try_to_load_from_cache``) finds the same
file, so the layout is the real one and not our idea of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import estimator
from estimator.errors import EstimatorError
from estimator.hub import cache_dir, is_repo_id

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def populate(cache: Path, repo_id: str, config: dict, commit: str = COMMIT,
             ref: str | None = "main") -> Path:
    """Write ``config`` into ``cache`` as huggingface_hub stores a downloaded config.json."""
    org, name = repo_id.split("/")
    repo = cache / f"models--{org}--{name}"
    data = json.dumps(config, indent=2).encode()
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    link = snap / "config.json"
    if not link.exists():
        link.symlink_to(os.path.relpath(blob, snap))
    if ref:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estimator", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_model_id_from_a_populated_cache_gives_the_exact_figures(hub_cache):
    qwen = estimator.load_model("qwen3-30b-a3b")
    populate(hub_cache, "Qwen/Qwen3-30B-A3B", dict(qwen.hf_config))
    env = {"HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1"}
    res = _cli("report", "Qwen/Qwen3-30B-A3B", "--format", "json", env=env)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    # the model card: 30.5B total, 3.3B active; exactly the preset's counts
    assert d["params"]["total"] == 30532122624 == estimator.count_params(qwen.spec).total
    assert d["params"]["active"] == 3353032704
    assert d["model"]["origin"] == f"hf:Qwen/Qwen3-30B-A3B@{COMMIT[:12]}"
    assert d["model"]["source"] == "https://huggingface.co/Qwen/Qwen3-30B-A3B"
    preset = json.loads(_cli("report", "qwen3-30b-a3b", "--format", "json", env=env).stdout)
    for key in ("params", "flops", "memory", "serving"):
        assert d[key] == preset[key], key


def test_absent_model_exits_2_with_one_line(tmp_path):
    env = {"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}
    res = _cli("report", "Qwen/Qwen3-30B-A3B", env=env)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert "not in the Hugging Face cache" in res.stderr and "never downloads" in res.stderr
    assert "hf download Qwen/Qwen3-30B-A3B config.json" in res.stderr


def test_revisions_branches_and_commits(hub_cache):
    cfg = dict(estimator.load_model("mixtral-8x7b").hf_config)
    populate(hub_cache, "mistralai/Mixtral-8x7B-v0.1", cfg)
    smaller = {**cfg, "num_local_experts": 4}
    populate(hub_cache, "mistralai/Mixtral-8x7B-v0.1", smaller, commit=OTHER, ref="pr-4")
    full = estimator.estimate("mistralai/Mixtral-8x7B-v0.1").params.total
    assert full == 46702792704
    four = estimator.estimate("mistralai/Mixtral-8x7B-v0.1@pr-4").params.total
    assert four == estimator.estimate(smaller).params.total < full
    assert estimator.estimate(f"mistralai/Mixtral-8x7B-v0.1@{OTHER}").params.total == four
    with pytest.raises(EstimatorError, match="revision 'v9' is not in the Hugging Face cache"):
        estimator.load_model("mistralai/Mixtral-8x7B-v0.1@v9")


def test_snapshot_without_config_and_broken_refs(hub_cache):
    repo = hub_cache / "models--acme--empty"
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    with pytest.raises(EstimatorError, match="has no config.json"):
        estimator.load_model("acme/empty")
    (repo / "refs" / "main").write_text("../../../etc")  # a ref is a hash, nothing else
    with pytest.raises(EstimatorError, match="not in the Hugging Face cache"):
        estimator.load_model("acme/empty")


def test_huggingface_hub_finds_the_same_file(hub_cache):
    """The cache we write is the one huggingface_hub reads, and our lookup agrees with its."""
    cfg = dict(estimator.load_model("olmoe-1b-7b").hf_config)
    snap = populate(hub_cache, "allenai/OLMoE-1B-7B-0924", cfg)
    code = ("import huggingface_hub, sys;"
            "print(huggingface_hub.try_to_load_from_cache('allenai/OLMoE-1B-7B-0924', "
            "'config.json'))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    if res.returncode != 0 and "No module named 'huggingface_hub'" in res.stderr:
        pytest.skip("huggingface_hub not installed")
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()) == snap / "config.json"
    m = estimator.load_model("allenai/OLMoE-1B-7B-0924")
    assert m.spec == estimator.load_model("olmoe-1b-7b").spec.replace(name=m.spec.name)


@pytest.mark.parametrize("env, expected", [
    ({"HF_HUB_CACHE": "/a/hub"}, "/a/hub"),
    ({"HUGGINGFACE_HUB_CACHE": "/b/hub"}, "/b/hub"),
    ({"HF_HOME": "/c"}, "/c/hub"),
    ({"XDG_CACHE_HOME": "/d"}, "/d/huggingface/hub"),
    ({}, os.path.expanduser("~/.cache/huggingface/hub")),
])
def test_cache_folder_follows_the_environment_like_huggingface_hub(env, expected, monkeypatch):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert str(cache_dir()) == expected
    code = "import huggingface_hub.constants as c; print(c.HF_HUB_CACHE)"
    clean = {k: v for k, v in os.environ.items()
             if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**clean, **env})
    if res.returncode == 0:  # huggingface_hub installed: the independent reference
        assert res.stdout.strip() == expected


def test_what_counts_as_a_model_id():
    assert is_repo_id("Qwen/Qwen3-30B-A3B") and is_repo_id("org/name@v1.0")
    for text in ("mixtral-8x7b", "a/b/c", "path/to/config.json", "../x", "/abs/x", "a/..",
                 "org/name@", "-org/x"):
        assert not is_repo_id(text), text


def test_local_checkpoint_folder_reads_its_config_json(tmp_path):
    folder = tmp_path / "Qwen3-30B-A3B"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(dict(estimator.load_model("qwen3-30b-a3b").hf_config)))
    m = estimator.load_model(str(folder))
    assert m.spec.name == "Qwen3-30B-A3B"
    assert estimator.estimate(m).params.total == 30532122624

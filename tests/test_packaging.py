"""The project as a package: a wheel holds the presets, the hardware catalog, the example configs
and the ``moe-estimator`` console script; installed (wheel or editable) into a fresh virtual
environment, the API and the console script work from any directory.

Offline and quick (~5 s): the build runs from a copy of the tracked tree in a temp folder (the
work tree is not touched: no build/, dist/ or egg-info), with this interpreter's setuptools
(``--no-build-isolation``) and no dependency resolution (``--no-deps``; the venv sees this
interpreter's PyYAML through ``--system-site-packages``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import estimator
from estimator.presets import list_presets

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "configs" / "examples"
COPY = ("pyproject.toml", "README.md", "estimator", "ui", "configs")

pytest.importorskip("setuptools")


def _pip(python: Path | str, *args: str, cwd: Path) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", *args], cwd=cwd, check=True,
                   env={**os.environ, "PIP_NO_INPUT": "1"}, timeout=300)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("src")
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(src, dst / name)
    return dst


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
                   check=True, timeout=300)
    (whl,) = out.glob("moe_cost_estimator-*.whl")
    return whl


def _venv(path: Path) -> Path:
    """A venv that sees this interpreter's packages (pip, setuptools, PyYAML) but installs into
    itself: its own site-packages come first on sys.path."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def test_wheel_holds_presets_catalog_examples_and_console_script(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for slug in list_presets():
        assert f"estimator/configs/models/{slug}.yaml" in names
    assert "estimator/configs/hardware.yaml" in names
    for f in EXAMPLES.glob("*.json"):
        assert f"estimator/configs/examples/{f.name}" in names
    assert "estimator/validation/reference.py" in names and "ui/pages/validate.py" in names
    (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(ep).decode()
    assert "moe-estimator = estimator.cli:main" in text
    (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta_text = zipfile.ZipFile(wheel).read(meta).decode()
    # the runtime needs PyYAML, and numpy for sweeps; the app and torch are extras
    assert "Requires-Dist: pyyaml" in meta_text and "Requires-Dist: numpy" in meta_text
    assert "extra == \"app\"" in meta_text and "extra == \"validate\"" in meta_text
    for line in meta_text.splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            assert "torch" not in line and "streamlit" not in line, line


def test_installed_wheel_works_from_any_directory(wheel, tmp_path):
    py = _venv(tmp_path / "venv")
    _pip(py, str(wheel), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import estimator, json; r = estimator.estimate('mixtral-8x7b');"
            "print(json.dumps([estimator.__file__, r.params.total, r.gpu.id]))")
    out = subprocess.run([str(py), "-c", code], cwd=elsewhere, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    where, total, gpu = json.loads(out)
    assert str(tmp_path / "venv") in where  # the installed copy, not the checkout
    assert total == 46702792704 and gpu == "h100-sxm"
    script = tmp_path / "venv" / "bin" / "moe-estimator"
    res = subprocess.run([str(script), "report", "mixtral-8x7b", "--format", "json"],
                         cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["params"]["total"] == 46702792704
    res = subprocess.run([str(script), "report", "--help"], cwd=elsewhere, capture_output=True,
                         text=True, timeout=120)
    assert res.stdout.startswith("usage: moe-estimator report")
    res = subprocess.run([str(script), "report", "no-such-model"], cwd=elsewhere,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1


def test_editable_install_reads_the_checkout(source, tmp_path):
    py = _venv(tmp_path / "venv")
    _pip(py, "-e", str(source), cwd=tmp_path)
    code = ("import estimator, ui; from estimator.presets import CONFIG_DIR;"
            "print(estimator.__file__); print(CONFIG_DIR); print(len(estimator.list_presets()))")
    out = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split("\n")
    assert out[0] == str(source / "estimator" / "__init__.py")
    assert out[1] == str(source / "configs")
    assert int(out[2]) == len(list_presets())
    res = subprocess.run([str(tmp_path / "venv" / "bin" / "moe-estimator"), "list"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "mixtral-8x7b" in res.stdout


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_example_config_is_its_preset(path):
    """configs/examples/<slug>.json is the preset's published config.json: same figures."""
    preset = estimator.load_model(path.stem)
    assert json.loads(path.read_text()) == dict(preset.hf_config)
    from_file = estimator.estimate(str(path)).to_dict(compare=False)
    from_preset = estimator.estimate(path.stem).to_dict(compare=False)
    for key in ("params", "flops", "memory"):
        assert from_file[key] == from_preset[key]


def test_app_without_torch_explains_how_to_enable_the_validate_page():
    """`pip install -r requirements.txt` (or the [app] extra) brings no torch: every page
    renders, and the Validate page says how to get the CPU build instead of failing."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # as if not installed: import fails, find_spec is None
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=60).run()
        assert not at.exception
        at.switch_page("ui/pages/validate.py").run()
        assert not at.exception and not at.error
        print("\\n".join(w.value for w in at.warning))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "torch is not installed" in out.stdout
    assert "--index-url https://download.pytorch.org/whl/cpu" in out.stdout


def test_validate_command_without_torch_says_how_to_install_it():
    code = ("import sys; sys.modules['torch'] = None; from estimator.cli import main;"
            "sys.exit(main(['validate', '--quick']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "download.pytorch.org/whl/cpu" in out.stderr

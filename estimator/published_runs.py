"""Published training runs re-predicted from their layouts (``configs/training_runs.yaml``):
the step-time model's check against the world, shared by the tests and
``benchmarks/training_runs.py`` (which prints the README table)."""

from __future__ import annotations

from typing import Any

from . import steptime
from .hardware import get_gpu
from .options import make_options
from .presets import CONFIG_DIR, load_model, read_file

RUNS_FILE = CONFIG_DIR / "training_runs.yaml"
SECONDS_PER_HOUR = 3600


def load_runs() -> list[dict[str, Any]]:
    """The runs of ``configs/training_runs.yaml``, each with its source and published figure."""
    return list(read_file(RUNS_FILE)["runs"])


def predict(run: dict[str, Any]) -> dict[str, Any]:
    """The model's figure for ``run`` beside the published one: ``gpu_hours`` (for
    ``train_tokens``), ``mfu`` or ``step_time_s``, whichever the run publishes, and the
    relative error ``predicted / published − 1``."""
    model = load_model(run["model"] if "model" in run else dict(run["model_config"]))
    opts = make_options(**run["options"])
    st = steptime.step_time(model, opts, get_gpu(opts.gpu))
    (key, published), = run["published"].items()
    if key == "gpu_hours":
        predicted = (opts.train_tokens / st.tokens_per_step * st.step_time_s * st.num_gpus
                     / SECONDS_PER_HOUR)
    elif key == "mfu":
        predicted = st.mfu
    else:
        predicted = st.step_time_s
    return {"id": run["id"], "figure": key, "published": published, "predicted": predicted,
            "error": predicted / published - 1, "step_time_s": st.step_time_s, "mfu": st.mfu,
            "breakdown": dict(st.breakdown), "source": run["source"],
            "assumed": run.get("assumed", "")}

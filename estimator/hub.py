"""Hugging Face model ids (``Qwen/Qwen3-30B-A3B``), read from the local Hugging Face cache only.

The estimator never downloads and never opens a network connection: a model id resolves to
the ``config.json`` that ``huggingface_hub`` (``hf download``, transformers, vLLM) has already
put in the cache, laid out as huggingface_hub writes it::

    $HF_HUB_CACHE/models--Qwen--Qwen3-30B-A3B/refs/main              -> the commit hash
    $HF_HUB_CACHE/models--Qwen--Qwen3-30B-A3B/snapshots/<hash>/config.json

The cache folder is found as huggingface_hub finds it (``huggingface_hub.constants``):
``HF_HUB_CACHE``, else ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``. ``org/name@revision``
picks a branch or tag the cache has a ref for, or a commit hash. Offline mode
(``HF_HUB_OFFLINE=1``) changes nothing here: this module is always offline. When the model is
not cached, the error says so and gives the command that fetches only its config.json.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import EstimatorError

#: ``org/name`` or ``org/name@revision`` as the Hub spells repository ids (letters, digits,
#: ``-``, ``_``, ``.``; at most 96 characters per part).
REPO_ID = re.compile(r"(?P<org>[A-Za-z0-9][\w.-]{0,95})/(?P<name>[A-Za-z0-9][\w.-]{0,95})"
                     r"(?:@(?P<rev>[\w./-]{1,255}))?")
COMMIT = re.compile(r"[0-9a-f]{40}")


def is_repo_id(text: str) -> bool:
    """Whether ``text`` has the shape of a Hub model id (not whether the model exists)."""
    m = REPO_ID.fullmatch(text)
    return bool(m) and ".." not in text and not text.endswith((".json", ".yaml", ".yml"))


def cache_dir() -> Path:
    """The Hugging Face hub cache folder, resolved from the environment as huggingface_hub
    resolves it."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.path.expanduser(os.environ[var])))
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "huggingface")
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hub"


def snapshot(repo: str) -> tuple[Path, str, str]:
    """``(snapshot folder, repo id, commit)`` of a cached model ``org/name[@revision]``.

    Raises :class:`EstimatorError` (one line) when the model, the revision or the snapshot is
    not in the cache.
    """
    m = REPO_ID.fullmatch(repo)
    if not m:
        raise EstimatorError("model", repo, "not a Hugging Face model id (org/name)")
    repo_id = f"{m['org']}/{m['name']}"
    revision = m["rev"] or "main"
    cache = cache_dir()
    folder = cache / f"models--{m['org']}--{m['name']}"
    fetch = (f"this tool never downloads; fetch it with `hf download {repo_id} config.json`"
             + (f" --revision {revision}" if m["rev"] else "")
             + " (or point HF_HUB_CACHE at a cache that has it)")
    if not folder.is_dir():
        raise EstimatorError("model", repo,
                             f"not a preset, not a local file and not in the Hugging Face cache "
                             f"({cache}); {fetch}")
    ref = folder / "refs" / revision
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8", errors="replace").strip()
    elif COMMIT.fullmatch(revision):
        commit = revision
    else:
        raise EstimatorError("model", repo, f"revision {revision!r} is not in the Hugging Face "
                                            f"cache ({folder}); {fetch}")
    snap = folder / "snapshots" / commit
    if not COMMIT.fullmatch(commit) or not snap.is_dir():
        raise EstimatorError("model", repo, f"snapshot {commit[:40]!r} is not in the Hugging "
                                            f"Face cache ({folder}); {fetch}")
    return snap, repo_id, commit


def config_path(repo: str) -> tuple[Path, str, str]:
    """``(config.json path, repo id, commit)`` of a cached model; one-line error if absent."""
    snap, repo_id, commit = snapshot(repo)
    path = snap / "config.json"
    if not path.is_file():
        raise EstimatorError("model", repo,
                             f"the cached snapshot {commit[:12]} has no config.json ({snap}); "
                             f"this tool never downloads; fetch it with "
                             f"`hf download {repo_id} config.json`")
    return path, repo_id, commit

"""Loading models: presets, YAML/JSON files and dicts all go through :func:`load_model`.

A preset is ``configs/models/<slug>.yaml``: ``name``, ``display_name``, ``source`` (model card
URL), ``published`` (the publisher's own figures and which active-parameter convention they use)
and ``config`` (the model's Hugging Face config.json, verbatim). A user's config.json loads
through the same path, so a preset and an uploaded file can never be read differently.

Files are read defensively: size-capped, YAML through ``yaml.safe_load`` (no python tags, no
object construction), unknown preset keys rejected naming the file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EstimatorError
from .hf import spec_from_hf_config
from .spec import MLA, MoA, ModelSpec, fields_of


def _config_dir() -> Path:
    """``configs/``: beside the package in a checkout or an editable install, inside it
    (``estimator/configs/``) in an installed wheel (pyproject.toml maps the folder there)."""
    here = Path(__file__).resolve().parent
    for d in (here / "configs", here.parent / "configs"):
        if (d / "hardware.yaml").is_file():
            return d
    return here.parent / "configs"  # not found: the errors that follow name this path


CONFIG_DIR = _config_dir()
MODELS_DIR = CONFIG_DIR / "models"
MAX_FILE_BYTES = 2 * 1024 * 1024  # config.json files are a few KB; refuse anything huge
PRESET_KEYS = {"name", "display_name", "source", "published", "config"}
PUBLISHED_KEYS = {"total_params", "active_params", "convention", "citation", "notes"}


@dataclass(frozen=True)
class Model:
    """A spec plus where it came from and what its publisher says about it."""

    spec: ModelSpec
    display_name: str
    origin: str  # "preset:<slug>", a file path, or "dict"
    source: str | None = None  # model card URL
    published: Mapping[str, Any] = field(default_factory=dict)
    hf_config: Mapping[str, Any] | None = None
    #: What the checkpoint folder beside the config stores, from its safetensors headers
    #: (:class:`estimator.checkpoint.CheckpointBytes`), or the EstimatorError that stopped
    #: reading them; None when there is no checkpoint (presets, files, dicts).
    checkpoint: Any = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name


def list_presets() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))


def _yaml():
    import yaml  # PyYAML; imported here so `import estimator` stays fast

    return yaml


def parse_text(text: str, where: str, fmt: str | None = None) -> Any:
    """Parse JSON or YAML text safely; errors name ``where``."""
    if len(text.encode("utf-8", "ignore")) > MAX_FILE_BYTES:
        raise EstimatorError(where, f"{len(text):,} bytes",
                             f"too large (limit {MAX_FILE_BYTES // 1024} KiB)")
    if fmt == "json" or (fmt is None and text.lstrip().startswith("{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise EstimatorError(where, f"line {e.lineno}", f"malformed JSON: {e.msg}") from None
    yaml = _yaml()
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        msg = str(e).splitlines()[0] if str(e) else "malformed YAML"
        if "python/" in str(e) or "could not determine a constructor" in str(e):
            msg = "YAML tags that construct objects are not allowed (safe loading only)"
        raise EstimatorError(where, "", msg) from None


def read_file(path: str | os.PathLike) -> Any:
    p = Path(path)
    where = str(p)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise EstimatorError("file", where, "not found") from None
    except OSError as e:
        raise EstimatorError("file", where, f"unreadable: {e.strerror}") from None
    if p.is_dir():
        raise EstimatorError("file", where, "is a directory, not a config file")
    if size > MAX_FILE_BYTES:
        raise EstimatorError("file", where,
                             f"too large ({size:,} bytes; limit {MAX_FILE_BYTES // 1024} KiB)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EstimatorError("file", where, "not UTF-8 text") from None
    except OSError as e:
        raise EstimatorError("file", where, f"unreadable: {e.strerror}") from None
    fmt = "json" if p.suffix.lower() == ".json" else None
    return parse_text(text, where, fmt)


@functools.cache
def _load_preset(slug: str) -> Model:
    return model_from_dict(read_file(MODELS_DIR / f"{slug}.yaml"), origin=f"preset:{slug}",
                           default_name=slug)


def load_model(source: str | os.PathLike | Mapping[str, Any] | Model | ModelSpec) -> Model:
    """A preset name, a YAML/JSON path, a dict (HF config.json, preset or spec fields), a spec."""
    if isinstance(source, Model):
        return source
    if isinstance(source, ModelSpec):
        return Model(spec=source, display_name=source.name, origin="spec")
    if isinstance(source, Mapping):
        return model_from_dict(source, origin="dict", default_name="custom")
    if isinstance(source, (str, os.PathLike)):
        s = str(source)
        slug = s.strip().lower()
        if slug in _preset_set():
            return _load_preset(slug)
        if os.path.isdir(s) and os.path.isfile(os.path.join(s, "config.json")):
            folder = Path(s)  # a checkpoint folder: its config.json and safetensors headers
            m = model_from_dict(read_file(folder / "config.json"), origin=s,
                                default_name=folder.resolve().name or "custom")
            return dataclasses.replace(m, checkpoint=_checkpoint_of(folder))
        if not os.path.exists(s) and _hub().is_repo_id(s.strip()):
            return _load_from_hub(s.strip())
        if os.path.sep in s or s.endswith((".json", ".yaml", ".yml")) or os.path.exists(s):
            name = Path(s).stem
            if name == "config":  # a bare HF config.json: name it after its folder
                name = Path(s).resolve().parent.name or "custom"
            return model_from_dict(read_file(s), origin=s, default_name=name)
        raise EstimatorError("model", s, "not a preset, a file or a Hugging Face model id "
                             "(org/name); presets: " + ", ".join(list_presets()))
    raise EstimatorError("model", type(source).__name__,
                         "must be a preset name, a path, a dict or a ModelSpec")


def _hub():
    from . import hub  # only when a model id is given

    return hub


def _load_from_hub(repo: str) -> Model:
    """A Hub model id read from the local Hugging Face cache (never downloaded): see
    :mod:`estimator.hub`."""
    path, repo_id, commit = _hub().config_path(repo)
    name = repo_id.split("/", 1)[1]
    m = model_from_dict(read_file(path), origin=f"hf:{repo_id}@{commit[:12]}", default_name=name)
    return dataclasses.replace(m, source=f"https://huggingface.co/{repo_id}",
                               checkpoint=_checkpoint_of(path.parent))


def _checkpoint_of(folder: Path) -> Any:
    """The folder's safetensors summary (headers only), the error that stopped it (a shard
    missing from a partly downloaded snapshot), or None when it holds no safetensors file."""
    if not any(folder.glob("*.safetensors")):
        return None
    from .checkpoint import checkpoint_bytes

    try:
        return checkpoint_bytes(folder)
    except EstimatorError as e:
        return e


@functools.lru_cache(maxsize=1)
def _preset_set() -> frozenset[str]:
    return frozenset(list_presets())


def model_from_dict(d: Any, origin: str, default_name: str) -> Model:
    """Dispatch on the dict's shape: preset file, HF config.json, or spec fields."""
    if not isinstance(d, Mapping):
        raise EstimatorError(origin, type(d).__name__, "must contain a mapping (JSON object)")
    if "config" in d and "model_type" not in d:
        unknown = set(d) - PRESET_KEYS
        if unknown:
            raise EstimatorError(origin, sorted(unknown)[0],
                                 "unknown preset key; allowed: " + ", ".join(sorted(PRESET_KEYS)))
        pub = d.get("published") or {}
        if not isinstance(pub, Mapping) or set(pub) - PUBLISHED_KEYS:
            raise EstimatorError(origin + ": published", pub,
                                 "allowed keys: " + ", ".join(sorted(PUBLISHED_KEYS)))
        name = str(d.get("name") or default_name)
        spec = spec_from_hf_config(d["config"], name=name)
        return Model(spec=spec, display_name=str(d.get("display_name") or name), origin=origin,
                     source=d.get("source"), published=dict(pub), hf_config=d["config"])
    if d.get("model_type") == "custom":
        # ``family:`` keeps the HF family of an edited spec (FLOPs depend on it: llama4 chunks)
        fields = {k: v for k, v in d.items() if k != "family"}
        spec = spec_from_fields(fields, default_name)
        if isinstance(d.get("family"), str):
            spec = spec.replace(model_type=d["family"])
        return Model(spec=spec, display_name=str(d.get("name") or default_name), origin=origin)
    spec = spec_from_hf_config(d, name=default_name)
    return Model(spec=spec, display_name=default_name, origin=origin, hf_config=d)


def spec_from_fields(d: Mapping[str, Any], default_name: str = "custom") -> ModelSpec:
    """A spec from its own field names (``model_type: custom`` files, the app's editor)."""
    allowed = set(fields_of())
    unknown = set(d) - allowed
    if unknown:
        k = sorted(unknown)[0]
        raise EstimatorError(k, d[k], "unknown architecture field")
    kw = dict(d)
    kw.setdefault("name", default_name)
    for key, cls in (("mla", MLA), ("moa", MoA)):
        v = kw.get(key)
        if isinstance(v, Mapping):
            bad = set(v) - set(fields_of(cls))
            if bad:
                raise EstimatorError(f"{key}.{sorted(bad)[0]}", v, "unknown field")
            try:
                kw[key] = cls(**v)
            except TypeError as e:
                raise EstimatorError(key, v, str(e)) from None
    for key in ("moe_layers", "sliding_window_layers", "notes"):
        if isinstance(kw.get(key), list):
            kw[key] = tuple(kw[key])
    missing = [f for f in ("num_hidden_layers", "hidden_size", "vocab_size") if f not in kw]
    if missing:
        raise EstimatorError(missing[0], None, "required architecture field is missing")
    # Hand-written specs rarely list layers: experts or a window without a layer list mean
    # "every layer" (as Mixtral and Mistral configs do), never a silently dense model.
    L = kw["num_hidden_layers"]
    if isinstance(L, int) and not isinstance(L, bool) and 0 < L <= 100_000:
        if kw.get("num_experts") and "moe_layers" not in kw:
            kw["moe_layers"] = tuple(range(L))
        if kw.get("sliding_window") and "sliding_window_layers" not in kw:
            kw["sliding_window_layers"] = tuple(range(L))
    return ModelSpec(**kw)

"""Loading models: presets, YAML/JSON files and dicts all go through :func:`load_model`.

A preset is ``configs/models/<slug>.yaml``: ``name``, ``display_name``, ``source`` (model card
URL), ``published`` (the publisher's own figures and which active-parameter convention they use)
and ``config`` (the model's Hugging Face config.json, verbatim). A user's config.json loads
through the same path, so a preset and an uploaded file can never be read differently.

Files are read defensively: size-capped, YAML through ``yaml.safe_load`` (no python tags, no
object construction), unknown preset keys rejected naming the file.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import json
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EstimatorError
from .hf import spec_from_hf_config
from .limits import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_LAYERS,
    MAX_LIST_LEN,
    MAX_NODES,
    MAX_NUMBER_CHARS,
    MAX_STRING_CHARS,
)
from .spec import MLA, CompressedAttention, Mixer, MoA, ModelSpec, SharedBlock, fields_of


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


def parse_text(text: str, where: str, fmt: str | None = None) -> Any:
    """Parse JSON or YAML text safely; errors name ``where``.

    Budgets (:mod:`estimator.limits`) are enforced while parsing, before anything uses the
    result: the size of the text, the digits of a number, and the number of values and depth of
    the document with YAML aliases expanded (an alias bomb is refused, not expanded).
    """
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "ignore")) > MAX_FILE_BYTES:
        raise EstimatorError(where, f"{len(text):,} characters",
                             f"too large (limit {MAX_FILE_BYTES // 1024} KiB)")
    text = text.removeprefix("\ufeff")  # a byte-order mark pasted with the text (JSON refuses it)
    try:
        if fmt == "json" or (fmt is None and text.lstrip().startswith("{")):
            try:
                data = json.loads(text, parse_int=_json_int, parse_float=_json_float,
                                  parse_constant=_json_constant)
            except json.JSONDecodeError as e:
                raise EstimatorError(where, f"line {e.lineno}",
                                     f"malformed JSON: {e.msg}") from None
        else:
            data = _load_yaml(text, where)
    except _TooBig as e:
        raise EstimatorError(where, e.args[0], e.args[1]) from None
    except RecursionError:
        raise EstimatorError(where, "", f"nested too deeply (limit {MAX_DEPTH} levels)") from None
    check_document(data, where)
    return data


class _TooBig(Exception):
    """A literal over its budget, raised from inside a parser (``(value, problem)``)."""


def _number_text(t: str) -> str:
    if len(t) > MAX_NUMBER_CHARS:
        raise _TooBig(f"a number of {len(t):,} characters",
                      f"numbers are limited to {MAX_NUMBER_CHARS} characters")
    return t


def _json_int(t: str) -> int:
    return int(_number_text(t))


def _json_float(t: str) -> float:
    v = float(_number_text(t))
    if not math.isfinite(v):
        raise _TooBig(t, "numbers must be finite (this one overflows a float)")
    return v


def _json_constant(t: str) -> float:
    raise _TooBig(t, "NaN and Infinity are not numbers a config may hold")


def _yaml():
    import yaml  # PyYAML; imported here so `import estimator` stays fast

    return yaml


@functools.cache
def _yaml_loader():
    """``yaml.SafeLoader`` (the C one when present) whose integers and floats are checked for
    length before ``int()`` sees them (Python refuses > 4300 digits with a ValueError)."""
    yaml = _yaml()
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    def construct_int(loader, node):
        _number_text(node.value)
        return yaml.SafeLoader.construct_yaml_int(loader, node)

    def construct_float(loader, node):
        _number_text(node.value)
        return yaml.SafeLoader.construct_yaml_float(loader, node)

    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Loader.add_constructor("tag:yaml.org,2002:float", construct_float)
    return Loader


def _yaml_expanded_size(text: str) -> int:
    """Values in the YAML document with every alias expanded, counted from the parser's event
    stream before anything is constructed (an anchor's size is known when it closes), so a
    "billion laughs" document is refused after reading a few KB, not after building it. An
    alias to a collection still open (a recursive document) is refused too."""
    yaml = _yaml()
    sizes: dict[str, int] = {}
    stack: list[list] = []  # [anchor, size] of each open collection
    total = 0

    def add(n: int) -> None:
        nonlocal total
        if stack:
            stack[-1][1] += n
        else:
            total += n
        if (stack[-1][1] if stack else total) > MAX_NODES:
            raise _TooBig(f"over {MAX_NODES:,} values",
                          "too many values (YAML aliases are counted expanded)")

    for ev in yaml.parse(text, Loader=_yaml_loader()):
        if isinstance(ev, yaml.AliasEvent):
            if ev.anchor not in sizes:
                raise _TooBig(f"*{ev.anchor}", "an alias to an unfinished or unknown anchor "
                                               "(recursive documents are refused)")
            add(sizes[ev.anchor])
        elif isinstance(ev, yaml.ScalarEvent):
            if ev.anchor:
                sizes[ev.anchor] = 1
            add(1)
        elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) > MAX_DEPTH:
                raise _TooBig("...", f"nested too deeply (limit {MAX_DEPTH} levels)")
            stack.append([ev.anchor, 1])
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, n = stack.pop()
            if anchor:
                sizes[anchor] = n
            add(n)
    return total


def _load_yaml(text: str, where: str) -> Any:
    yaml = _yaml()
    try:
        _yaml_expanded_size(text)
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as e:
        msg = str(e).splitlines()[0] if str(e) else "malformed YAML"
        if "python/" in str(e) or "could not determine a constructor" in str(e):
            msg = "YAML tags that construct objects are not allowed (safe loading only)"
        raise EstimatorError(where, "", msg) from None


def check_document(data: Any, where: str) -> None:
    """Refuse a parsed document above the budgets: more than :data:`MAX_NODES` values counted
    with every YAML alias expanded (what any later walk — validation, an error message, JSON
    output — would visit), deeper than :data:`MAX_DEPTH`, a list longer than
    :data:`MAX_LIST_LEN` or a string longer than :data:`MAX_STRING_CHARS`. The walk stops at
    the first value over budget, so it costs at most MAX_NODES steps."""
    count = 0
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        v, depth, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise EstimatorError(where, f"over {MAX_NODES:,} values",
                                 "too many values (YAML aliases are counted expanded)")
        if depth > MAX_DEPTH:
            raise EstimatorError(where + (": " + path if path else ""), "...",
                                 f"nested too deeply (limit {MAX_DEPTH} levels)")
        if isinstance(v, str):
            if len(v) > MAX_STRING_CHARS:
                raise EstimatorError(where + ": " + (path or "value"), v,
                                     f"string too long (limit {MAX_STRING_CHARS:,} characters)")
        elif isinstance(v, Mapping):
            for k, x in v.items():
                if not isinstance(k, (str, int, float, bool)) and k is not None:
                    raise EstimatorError(where + ": " + (path or "key"), type(k).__name__,
                                         "keys must be strings")
                stack.append((x, depth + 1, f"{path}.{k}" if path else str(k)))
        elif isinstance(v, (list, tuple)):
            if len(v) > MAX_LIST_LEN:
                raise EstimatorError(where + ": " + (path or "list"), f"{len(v):,} entries",
                                     f"list too long (limit {MAX_LIST_LEN:,})")
            stack.extend((x, depth + 1, f"{path}[{i}]") for i, x in enumerate(v))


def read_file(path: str | os.PathLike) -> Any:
    """Parse a config file: a regular file only (never a FIFO, device, socket or directory),
    opened without following it into a block, read with a cap of :data:`MAX_FILE_BYTES`."""
    where = os.fspath(path)
    if isinstance(where, bytes):
        where = where.decode("utf-8", "replace")
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting forever
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise EstimatorError("file", where, "not found") from None
    except IsADirectoryError:
        raise EstimatorError("file", where, "is a directory, not a config file") from None
    except OSError as e:  # ELOOP (a symlink loop), EACCES, ENAMETOOLONG, ...
        raise EstimatorError("file", where, f"unreadable: {e.strerror or e}") from None
    except (ValueError, TypeError) as e:  # an embedded NUL byte
        raise EstimatorError("file", where, f"not a valid path ({e})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise EstimatorError("file", where, "is a directory, not a config file")
        if not stat.S_ISREG(st.st_mode):
            raise EstimatorError("file", where, "not a regular file (a FIFO, device or socket "
                                                "is never read)")
        if st.st_size > MAX_FILE_BYTES:
            raise EstimatorError("file", where, f"too large ({st.st_size:,} bytes; limit "
                                                f"{MAX_FILE_BYTES // 1024} KiB)")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            raw = f.read(MAX_FILE_BYTES + 1)  # the size can change after fstat
    except OSError as e:
        raise EstimatorError("file", where, f"unreadable: {e.strerror or e}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise EstimatorError("file", where, f"too large (limit {MAX_FILE_BYTES // 1024} KiB)")
    text = decode_text(raw, where)
    fmt = "json" if where.lower().endswith(".json") else None
    return parse_text(text, where, fmt)


#: Byte-order marks a config file may start with, longest first (UTF-32 LE begins like UTF-16
#: LE). Windows editors write UTF-8 with a BOM, and PowerShell 5's ``>`` / ``Out-File`` write
#: UTF-16 LE with one, so a config saved there is read as what it is, not as garbage.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def decode_text(raw: bytes, where: str) -> str:
    """The text of a config file's bytes: UTF-8, or UTF-8/16/32 with a byte-order mark (which is
    dropped). Anything else is refused naming ``where``."""
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        what = "UTF-8 text" if encoding == "utf-8" else f"valid {encoding.upper()} text"
        raise EstimatorError("file", where, f"not {what}") from None
    if "\x00" in text:  # valid UTF-8, but no config holds a NUL: UTF-16 without its BOM, binary
        raise EstimatorError("file", where, "not a text config (it holds NUL bytes; UTF-16 "
                                            "without a byte-order mark?)")
    return text


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
        # a dict from the API gets the budgets a parsed file gets (a 10^7-entry list or a
        # recursive dict would otherwise be carried along and walked by every export)
        check_document(source, "dict")
        return model_from_dict(source, origin="dict", default_name="custom")
    if isinstance(source, (str, os.PathLike)):
        s = str(source)
        slug = s.strip().lower()
        if slug in _preset_set():
            return _load_preset(slug)
        if len(s) > 4096:
            raise EstimatorError("model", s, "not a preset, and too long for a path")
        if _isdir(s) and os.path.isfile(os.path.join(s, "config.json")):
            folder = Path(s)  # a checkpoint folder: its config.json and safetensors headers
            # abspath, not resolve(): no symlink is followed to name a model
            m = model_from_dict(read_file(folder / "config.json"), origin=s,
                                default_name=Path(os.path.abspath(s)).name or "custom")
            return dataclasses.replace(m, checkpoint=_checkpoint_of(folder))
        if not _exists(s) and _hub().is_repo_id(s.strip()):
            return _load_from_hub(s.strip())
        if os.path.sep in s or s.endswith((".json", ".yaml", ".yml")) or _exists(s):
            data = read_file(s)
            name = Path(s).stem
            if name == "config":  # a bare HF config.json: name it after its folder
                # abspath, not resolve(): no symlink is followed to name a model
                name = Path(os.path.abspath(s)).parent.name or "custom"
            return model_from_dict(data, origin=s, default_name=name)
        raise EstimatorError("model", s, "not a preset, a file or a Hugging Face model id "
                             "(org/name); presets: " + ", ".join(list_presets()))
    raise EstimatorError("model", type(source).__name__,
                         "must be a preset name, a path, a dict or a ModelSpec")


def _exists(path: str) -> bool:
    try:
        return os.path.exists(path)
    except (OSError, ValueError):  # an embedded NUL byte, a name too long
        return False


def _isdir(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except (OSError, ValueError):
        return False


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
    """Dispatch on the dict's shape: preset file, HF config.json, or spec fields.

    Every exception for a bad value is an :class:`EstimatorError`: a value of a type the
    importer does not expect (a list where a number belongs, say) is reported naming the input,
    never as a ``TypeError`` from deep inside the importer."""
    try:
        return _model_from_dict(d, origin, default_name)
    except EstimatorError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError,
            RecursionError, ZeroDivisionError) as e:
        mt = d.get("model_type") if isinstance(d, Mapping) else None
        raise EstimatorError(origin, mt if isinstance(mt, str) else type(d).__name__,
                             f"a value has a type or size this config cannot have "
                             f"({type(e).__name__})") from None


def _model_from_dict(d: Any, origin: str, default_name: str) -> Model:
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
        _check_published(pub, origin)
        for key in ("name", "display_name", "source"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise EstimatorError(f"{origin}: {key}", d[key], "must be a string")
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


def _check_published(pub: Mapping[str, Any], origin: str) -> None:
    """A preset file's ``published`` figures, as the report and the app compare them: counts are
    positive integers (or null), ``convention`` one of the active-parameter conventions or
    ``unknown``, ``citation`` and ``notes`` text."""
    from .params import ACTIVE_CONVENTIONS

    for key in ("total_params", "active_params"):
        v = pub.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not 1 <= v < 1e18):  # 1e18: a million times the largest model
            raise EstimatorError(f"{origin}: published.{key}", v,
                                 "must be a parameter count (a positive number) or null")
    conv = pub.get("convention")
    if conv is not None and conv not in (*ACTIVE_CONVENTIONS, "unknown"):
        raise EstimatorError(f"{origin}: published.convention", conv,
                             "must be one of " + ", ".join((*ACTIVE_CONVENTIONS, "unknown")))
    for key in ("citation", "notes"):
        if pub.get(key) is not None and not isinstance(pub[key], str):
            raise EstimatorError(f"{origin}: published.{key}", pub[key], "must be a string")


def spec_from_fields(d: Mapping[str, Any], default_name: str = "custom") -> ModelSpec:
    """A spec from its own field names (``model_type: custom`` files, the app's editor)."""
    allowed = set(fields_of())
    unknown = set(d) - allowed
    if unknown:
        k = sorted(unknown)[0]
        raise EstimatorError(k, d[k], "unknown architecture field")
    kw = dict(d)
    kw.setdefault("name", default_name)
    for key, cls in (("mla", MLA), ("moa", MoA), ("mixer", Mixer),
                     ("compressed_attention", CompressedAttention),
                     ("shared_block", SharedBlock)):
        v = kw.get(key)
        if v is not None and not isinstance(v, (Mapping, cls)):
            raise EstimatorError(key, v, "must be a mapping of its sub-fields, or null")
        if isinstance(v, Mapping):
            bad = set(v) - set(fields_of(cls))
            if bad:
                raise EstimatorError(f"{key}.{sorted(bad)[0]}", v, "unknown field")
            # DeepSeek-V4's and Zamba's layer lists arrive as lists from YAML/JSON
            v = {f: tuple(x) if isinstance(x, list) else x for f, x in v.items()}
            try:
                kw[key] = cls(**v)
            except TypeError as e:
                raise EstimatorError(key, v, str(e)) from None
    for key in ("moe_layers", "sliding_window_layers", "notes", "mixer_layers",
                "mixerless_layers", "ffnless_layers", "kv_shared_layers", "wide_ffn_layers",
                "layer_query_heads"):
        if isinstance(kw.get(key), list):
            kw[key] = tuple(kw[key])
        elif key in kw and not isinstance(kw[key], tuple):
            raise EstimatorError(key, kw[key], "must be a list")
    missing = [f for f in ("num_hidden_layers", "hidden_size", "vocab_size") if f not in kw]
    if missing:
        raise EstimatorError(missing[0], None, "required architecture field is missing")
    # Hand-written specs rarely list layers: experts or a window without a layer list mean
    # "every layer" (as Mixtral and Mistral configs do), never a silently dense model.
    L = kw["num_hidden_layers"]
    if isinstance(L, int) and not isinstance(L, bool) and 0 < L <= MAX_LAYERS:
        if kw.get("num_experts") and "moe_layers" not in kw:
            kw["moe_layers"] = tuple(range(L))
        if kw.get("sliding_window") and "sliding_window_layers" not in kw:
            kw["sliding_window_layers"] = tuple(range(L))
    return ModelSpec(**kw)

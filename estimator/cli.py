"""``python -m estimator``: report, list, sweep, whatif, plan, serve, checkpoint, validate.

Bad input of any kind ends with exit status 2 and one line on stderr (``error: ...``), never a
traceback. Flags for every workload option are generated from :mod:`estimator.options`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from .errors import EstimatorError
from .options import OPTION_FIELDS

EXIT_BAD_INPUT = 2


class _BadArgs(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting (one-line errors)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise _BadArgs(message)


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _parse_number(kind: type):
    def parse(text: str):
        try:
            return kind(float(text)) if kind is float else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    parse.__name__ = kind.__name__
    return parse


def _allowed(name: str, md: Any) -> tuple | None:
    """The values ``--help`` lists for an option: its declared choices; for ``gpu``, the ids
    of the hardware catalog. Checking stays in :func:`estimator.options.make_options` (one
    error message for the CLI, the API and the app)."""
    if md["choices"] is not None:
        return tuple(md["choices"])
    if name == "gpu":
        from .hardware import load_catalog

        return tuple(load_catalog())
    return None


def _add_option_flags(p: argparse.ArgumentParser) -> None:
    for name, f in OPTION_FIELDS.items():
        md = f.metadata
        kind = md["kind"]
        flag = "--" + name.replace("_", "-")
        allowed = _allowed(name, md)
        if allowed:
            values = ", ".join(str(c) for c in allowed)
            help_ = f"{md['help']} (one of: {values}; default: {f.default})"
        else:
            help_ = f"{md['help']} (default: {f.default})"
        help_ = help_.replace("%", "%%")  # argparse %-formats help strings
        if kind is bool:
            p.add_argument(flag, dest=name, type=_parse_bool, metavar="true|false", help=help_)
        elif kind in (int, float):
            metavar = "{" + ",".join(map(str, allowed)) + "}" if allowed else \
                "N" if kind is int else "X"
            p.add_argument(flag, dest=name, type=_parse_number(kind), help=help_,
                           metavar=metavar)
        else:
            metavar = "{" + ",".join(allowed) + "}" if allowed and len(allowed) <= 8 else \
                name.upper()
            p.add_argument(flag, dest=name, type=str, help=help_, metavar=metavar)


def _options_from(ns: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(ns, k) for k in OPTION_FIELDS if getattr(ns, k, None) is not None}


def _prog() -> str:
    """``moe-estimator`` when run as the console script, else ``python -m estimator``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name.startswith("moe-estimator") else "python -m estimator"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=_prog(),
                description="What a dense or MoE transformer costs: params, FLOPs, memory, time.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    sub.required = True

    r = sub.add_parser("report", help="full report for one model")
    r.add_argument("model", help="preset name (see `list`), path to a config.json / YAML or "
                                 "to a checkpoint folder, or a Hugging Face model id "
                                 "(org/name[@revision]) already in the local Hugging Face "
                                 "cache (never downloaded)")
    r.add_argument("--format", choices=("json", "md", "csv"), default="md",
                   help="output format (default: md)")
    _add_option_flags(r)

    ls = sub.add_parser("list", help="list presets (or, with --families, the config.json "
                                      "model_type values that load)")
    ls.add_argument("--families", action="store_true",
                    help="list the supported Hugging Face model_type values instead")

    s = sub.add_parser("sweep", help="one row per grid point")
    s.add_argument("model")
    s.add_argument("--vary", action="append", default=[], metavar="FIELD=v1,v2,...",
                   help="architecture field (HF or estimator name) or option, with values")
    s.add_argument("--format", choices=("csv", "json"), default="csv",
                   help="output format (default: csv)")
    _add_option_flags(s)

    w = sub.add_parser("whatif", help="cheaper ways to run the same model, side by side")
    w.add_argument("model")
    w.add_argument("--format", choices=("json", "md", "csv"), default="md")
    w.add_argument("--quant", action="append", metavar="FORMAT",
                   help="weight format of a quantize row (repeatable): int8, fp8, fp8-block128, "
                        "int4-g<N>[-zp], nvfp4, mxfp4, Q8_0, Q6_K, Q5_K, Q4_K, Q3_K, Q2_K, "
                        "nf4-dq (default: all of these but fp8-block128, nf4-dq)")
    w.add_argument("--prune-experts", type=_parse_number(int), metavar="N",
                   help="routed experts kept per layer (default: half)")
    w.add_argument("--offload-cache-experts", type=_parse_number(int), metavar="C",
                   help="experts cached on the GPU per layer when offloading (default: half)")
    w.add_argument("--offload-quant", metavar="FORMAT", help="expert format when offloaded "
                   "(default: int4-g128, else the first of int4-g64, int4-g32, int8 whose "
                   "group divides the model)")
    w.add_argument("--offload-hit-rate", type=_parse_number(float), metavar="X",
                   help="measured expert-cache hit rate (default: C/E, uniform routing)")
    w.add_argument("--offload-link", metavar="LINK",
                   help="host link: pcie4-x16, pcie5-x16, nvlink-c2c (default: the GPU's)")
    w.add_argument("--lora-rank", type=_parse_number(int), metavar="R", help="(default: 16)")
    w.add_argument("--lora-targets", metavar="LIST",
                   help="comma list of attention, mlp, experts (default: attention)")
    _add_option_flags(w)
    pl = sub.add_parser("plan", help="training layouts for --num-gpus GPUs that fit, ranked "
                                     "by predicted step time")
    pl.add_argument("model")
    pl.add_argument("--format", choices=("json", "md"), default="md",
                    help="output format (default: md)")
    pl.add_argument("--global-batch", type=_parse_number(int), default=0, metavar="N",
                    help="sequences per optimizer step (default: micro_batch × grad_accum × "
                         "dp of the options)")
    pl.add_argument("--top", type=_parse_number(int), default=10, metavar="N",
                    help="layouts listed (default: 10)")
    _add_option_flags(pl)
    sv = sub.add_parser("serve", help="serving latency/throughput by concurrency (and the "
                                      "Pareto frontier over layouts with --frontier)")
    sv.add_argument("model")
    sv.add_argument("--format", choices=("md", "json"), default="md")
    sv.add_argument("--frontier", action="store_true",
                    help="search layouts x concurrencies; keep the non-dominated points")
    sv.add_argument("--ttft-slo", type=_parse_number(float), default=0.0, metavar="S",
                    help="frontier: drop points with TTFT above S seconds (0 = none)")
    sv.add_argument("--tpot-slo", type=_parse_number(float), default=0.0, metavar="S",
                    help="frontier: drop points with TPOT above S seconds (0 = none)")
    _add_option_flags(sv)
    c = sub.add_parser("checkpoint", help="exact bytes per dtype from safetensors headers")
    c.add_argument("source", help="a .safetensors file, a checkpoint folder, or a Hugging Face "
                                  "model id in the local cache (headers only; never downloads)")
    c.add_argument("--format", choices=("md", "json"), default="md",
                   help="output format (default: md)")

    v = sub.add_parser("validate", help="measure small PyTorch models against the estimator")
    v.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "validate":  # the validation module owns its own flags
        from .validation.cli import main as validate_main

        return validate_main(argv[1:])
    try:
        ns = build_parser().parse_args(argv)
        return _run(ns)
    except _BadArgs as e:
        _fail(str(e))
    except EstimatorError as e:
        _fail(str(e))
    except BrokenPipeError:
        return 0
    except (OverflowError, RecursionError) as e:  # absurd sizes that slipped past the bounds
        _fail(f"input too large to estimate: {e}")
    return EXIT_BAD_INPUT


def _fail(msg: str) -> None:
    first = msg.strip().splitlines()[0] if msg.strip() else "bad input"
    print(f"error: {first}", file=sys.stderr)


def _run(ns: argparse.Namespace) -> int:
    from . import formats
    from .presets import list_presets, load_model
    from .report import estimate

    if ns.command == "list" and ns.families:
        from .hf import SUPPORTED_MODEL_TYPES

        print("\n".join(SUPPORTED_MODEL_TYPES))
        return 0
    if ns.command == "list":
        from .params import count_params_as

        slugs = list_presets()
        width = max(map(len, slugs), default=0)  # columns stay aligned for any slug
        for slug in slugs:
            m = load_model(slug)
            c = count_params_as(m.spec, "publisher")  # as the default report gives it
            print(f"{slug:{width}s} {m.display_name:40s} total {c.total / 1e9:8.2f}B  "
                  f"active {c.active / 1e9:7.2f}B ({c.active_convention})")
        return 0
    if ns.command == "report":
        rep = estimate(load_model(ns.model), **_options_from(ns))
        sys.stdout.write(formats.render(rep, ns.format))
        return 0
    if ns.command == "sweep":
        from .sweep import parse_vary, sweep

        grid = parse_vary(ns.vary)
        rows = sweep(load_model(ns.model), grid, **_options_from(ns))
        sys.stdout.write(formats.render_rows(rows, ns.format))
        return 0
    if ns.command == "whatif":
        from .whatif import WHATIF_OPTIONS, render, what_if

        wi = {k: getattr(ns, k) for k in WHATIF_OPTIONS if getattr(ns, k, None) is not None}
        sys.stdout.write(render(what_if(load_model(ns.model), **wi, **_options_from(ns)),
                                ns.format))
        return 0
    if ns.command == "plan":
        from .planner import plan, render

        opts = _options_from(ns)
        n = opts.pop("num_gpus", None)
        if n is None:
            raise _BadArgs("plan needs --num-gpus N")
        if ns.top < 1:
            raise _BadArgs(f"--top {ns.top}: must be >= 1")
        sys.stdout.write(render(plan(load_model(ns.model), num_gpus=n,
                                     global_batch=ns.global_batch, top=ns.top, **opts),
                                ns.format))
        return 0
    if ns.command == "serve":
        import json

        from .frontier import pareto, render_md, serving_table

        opts = _options_from(ns)
        if ns.frontier:
            res = pareto(load_model(ns.model), ttft_slo_s=ns.ttft_slo, tpot_slo_s=ns.tpot_slo,
                         **opts)
            rows = res["frontier"]
        else:
            opts.pop("concurrency", None)
            res = rows = serving_table(load_model(ns.model), **opts)
        sys.stdout.write(json.dumps(res, indent=1) + "\n" if ns.format == "json"
                         else render_md(rows))
        return 0
    if ns.command == "checkpoint":
        from .checkpoint import checkpoint_bytes

        sys.stdout.write(formats.render_checkpoint(checkpoint_bytes(ns.source), ns.format))
        return 0
    raise _BadArgs(f"unknown command {ns.command!r}")

"""``python -m estimator validate``: measure shrunk real architectures against the estimator.

    python -m estimator validate                     # default models, markdown table
    python -m estimator validate --quick             # 4 models, small workload (seconds)
    python -m estimator validate --models mixtral-8x7b,deepseek-v3 --format json
    python -m estimator validate --device cuda       # also CUDA allocator peaks
    python -m estimator validate --distributed --world-size 2 --format md   # real ranks

Exit status: 0 when every exact bar holds (``--strict``: every bar), 1 when one fails, 2 for bad
input (unknown model, no CUDA, no PyTorch, a model above the size cap).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..errors import EstimatorError
from ..formats import dumps_strict

MIB = 2**20
GFLOP = 10**9


def build_parser() -> argparse.ArgumentParser:
    from ..cli import _Parser  # raises instead of printing usage: one-line errors

    p = _Parser(
        prog="python -m estimator validate",
        description="Build small PyTorch models with the structure of real presets, measure "
                    "parameters, FLOPs, KV cache and training memory, and compare each with "
                    "the estimator's figure.")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where to run the measurements (default: cpu)")
    p.add_argument("--models", default=None,
                   help="comma-separated preset names or config files; 'all' = every preset "
                        "(default: a set covering dense, Mixtral-like, shared-expert, MLA, "
                        "fine-grained and gpt-oss-like models)")
    p.add_argument("--quick", action="store_true",
                   help="fewer models and a smaller workload; skips the eager-kernel rows")
    p.add_argument("--format", choices=("md", "json"), default="md", dest="fmt",
                   help="output format (default: md)")
    p.add_argument("--no-shrink", action="store_true",
                   help="instantiate the models at full size (refused above --max-params)")
    p.add_argument("--max-params", type=int, default=None,
                   help="refuse to instantiate a model with more parameters (default: 200M)")
    p.add_argument("--implementations", default="reference,transformers",
                   help="which implementations to measure (default: reference,transformers)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any bar fails, not only the exact ones")
    p.add_argument("--output", default=None, help="write the report to this file too")
    d = p.add_argument_group("distributed (per-rank memory and collectives on real ranks)")
    d.add_argument("--distributed", action="store_true",
                   help="shard the reference MoE over torch.distributed ranks (gloo on CPU) as "
                        "TP, EP, PP, ZeRO-1/2 and FSDP2 do, and compare each rank's parameters, "
                        "gradients, optimizer states, peak and KV cache with the estimate")
    d.add_argument("--world-size", type=int, default=None,
                   help="only the layouts of this many ranks (default: all: 2 and 4)")
    d.add_argument("--layouts", default=None,
                   help="comma-separated layouts (default: all of them): "
                        + ", ".join(_dist_layouts()))
    d.add_argument("--model", default="mixtral-8x7b",
                   help="preset shrunk for the distributed run (default: mixtral-8x7b)")
    d.add_argument("--timeout", type=float, default=300.0,
                   help="seconds before every rank is killed (default: 300)")
    d.add_argument("--port", type=int, default=None,
                   help="rendezvous port on 127.0.0.1 (default: a free one)")
    d.add_argument("--raw-output", default=None,
                   help="also write the raw per-rank measurements (JSON) to this file")
    return p


def _dist_layouts() -> list[str]:
    from .dist_layouts import LAYOUTS

    return list(LAYOUTS)


def _distributed(args) -> int:
    """``validate --distributed``: launch, render, print; exit 1 on an exact-bar failure
    (``--strict``: any bar), 2 on bad input or ranks that could not run."""
    from . import dist_render
    from .dist_layouts import check_names

    try:
        names = (None if args.layouts is None else
                 [n.strip() for n in args.layouts.split(",") if n.strip()])
        names = check_names(names if names is not None else _dist_layouts(), args.world_size)
        if args.timeout <= 0:
            raise EstimatorError("--timeout", args.timeout, "must be > 0")
        if args.port is not None and not 1 <= args.port <= 65535:
            raise EstimatorError("--port", args.port, "must be 1..65535")
        if args.raw_output:
            _check_output(args.raw_output)
        from . import distributed

        raw = distributed.run(names, model=args.model, timeout_s=args.timeout, port=args.port)
        report = dist_render.render(raw)
    except EstimatorError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    text = (dumps_strict(report, indent=1) if args.fmt == "json"
            else dist_render.to_markdown(report))
    print(text)
    for path, body in ((args.output, text), (args.raw_output,
                                             dumps_strict(raw, indent=1) if args.raw_output
                                             else "")):
        if path:
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(body + "\n")
            except OSError as e:
                print(f"error: {path!r}: cannot write: {e.strerror or e}", file=sys.stderr)
                return 2
    s = report["summary"]
    return 1 if (s["exact_failed"] or (args.strict and s["failed"])) else 0


def main(argv: list[str] | None = None) -> int:
    from ..cli import _BadArgs

    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
        if args.output:
            _check_output(args.output)
        if args.max_params is not None and args.max_params < 1:
            raise EstimatorError("--max-params", args.max_params, "must be >= 1")
    except (_BadArgs, EstimatorError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else 'bad arguments'}", file=sys.stderr)
        return 2
    try:
        import torch  # noqa: F401
    except ImportError:
        print("error: validation needs PyTorch; the CPU build is enough: pip install "
              "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu", file=sys.stderr)
        return 2
    if args.distributed:
        return _distributed(args)
    from ..presets import list_presets
    from . import compare

    models = None
    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        if models == ["all"]:
            models = list_presets()
    impls = tuple(i.strip() for i in args.implementations.split(",") if i.strip())
    bad = [i for i in impls if i not in ("reference", "transformers")]
    try:
        if bad:
            raise EstimatorError("implementations", bad[0],
                                 "must be 'reference' and/or 'transformers'")
        report = compare.run_validation(
            models=models, quick=args.quick, device=args.device, shrink=not args.no_shrink,
            max_params=args.max_params or compare.MAX_PARAMS, implementations=impls)
    except EstimatorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = (dumps_strict(report, indent=1) if args.fmt == "json"
            else to_markdown(report))
    print(text)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        except OSError as e:
            print(f"error: --output={args.output!r}: cannot write: {e.strerror or e}",
                  file=sys.stderr)
            return 2
    s = report["summary"]
    return 1 if (s["exact_failed"] or (args.strict and s["failed"])) else 0


def _check_output(path: str) -> None:
    """Refuse an --output that cannot be written before minutes of measuring, not after."""
    if os.path.isdir(path):
        raise EstimatorError("--output", path, "is a directory; give a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise EstimatorError("--output", path, "its folder does not exist")


# ----------------------------------------------------------------------------------------------
# markdown
# ----------------------------------------------------------------------------------------------

def fmt_value(v: int | float, unit: str) -> str:
    """An exact integer with thousands separators, plus a human unit where it helps."""
    if unit == "bytes":
        return f"{v:,} B" + (f" ({v / MIB:,.2f} MiB)" if v >= MIB else "")
    if unit == "FLOP":
        return f"{v:,}" + (f" ({v / GFLOP:,.3f} GFLOP)" if v >= GFLOP // 100 else "")
    return f"{v:,}"


def fmt_error(r: dict[str, Any]) -> str:
    if r["estimate"] == r["measured"]:
        return "0 (equal)"
    return f"{100 * r['rel_error']:+.2f}%"


class Footnotes:
    """Numbered notes under a Markdown table: ``mark(text)`` returns `` [n]`` (the same number
    for the same text, "" for none); ``lines()`` the list to append after the table."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def mark(self, text: str) -> str:
        return f" [{self.numbers.setdefault(text, len(self.numbers) + 1)}]" if text else ""

    def lines(self) -> list[str]:
        if not self.numbers:
            return []
        return ["", "Notes:", ""] + [f"{n}. {t}" for t, n in self.numbers.items()]


def to_markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table a reader can trust at a glance, with its provenance."""
    w = report["workload"]
    env = [f"date {report['date']}", f"torch {report['torch']}",
           f"transformers {report['transformers'] or 'not installed'}",
           f"estimator {report['estimator']}", f"device {report['device']}",
           f"CPU {report['cpu']}"]
    if report.get("gpu"):
        env.append(f"GPU {report['gpu']}")
    s = report["summary"]
    lines = [
        "# Validation: estimator vs measurement",
        "",
        "; ".join(env) + ".",
        "",
        f"Workload: inference batch {w['batch']} × {w['seq_len']} tokens; training micro-batch "
        f"{w['train_micro_batch']} × {w['train_seq_len']} tokens, fp32, AdamW. Models are the "
        "presets shrunk to laptop size with the same structure (experts, top-k, shared experts, "
        "MLA ranks, layer kinds). "
        f"{'Quick run. ' if report['quick'] else ''}Measured in {report['elapsed_s']} s.",
        "",
        f"**{s['passed']} of {s['rows']} rows within their bar; "
        f"{s['exact_failed']} exact-bar failures.**",
        "",
        "| model | implementation | quantity | estimate | measured | error | bar | ok |",
        "|---|---|---|--:|--:|--:|:-:|:-:|",
    ]
    notes = Footnotes()
    for r in report["rows"]:
        lines.append(f"| {r['model']} | {r['implementation']} | {r['quantity']}"
                     f"{notes.mark(r['note'])} | {fmt_value(r['estimate'], r['unit'])} | "
                     f"{fmt_value(r['measured'], r['unit'])} | {fmt_error(r)} | {r['bar']} | "
                     f"{'✓' if r['passed'] else '✗'} |")
    lines += notes.lines()
    lines += ["", "Conventions:", ""]
    lines += [f"- **{k}**: {v}" for k, v in report["conventions"].items()]
    lines += ["", "Largest |error| per implementation and quantity:", ""]
    lines += [f"- {q}: {'0 (all equal)' if e == 0 else f'{100 * e:.2f}%'}"
              for q, e in s["worst_by_quantity"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

"""Dump ``estimate(preset, **opts).to_dict()`` for every preset × a set of option sets, as JSON,
one file per pair, into a folder: a before/after guard for performance work (a speed change
must leave every byte of the report alone).

    python benchmarks/dump_reports.py /tmp/before          # on the old code
    python benchmarks/dump_reports.py /tmp/after           # on the new code
    diff -r /tmp/before /tmp/after && echo identical

Every preset of ``configs/`` (MoE, dense, MLA, hybrid and attention-free ones), under option
sets covering serving and training, tp/pp/ep layouts, quantized weights and KV cache, long
contexts, both conventions, another GPU and the SGLang engine. Each report is computed in a
fresh order (the whole list, then the whole list again in reverse, compared with the first) so
that the per-workload memos are exercised warm as well as cold; every dict and list of the
first pass's reports is emptied after it is written, so a memo that hands out its own
containers instead of fresh ones shows as a difference. An error is dumped as its
message (the same options must fail the same way).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OPTION_SETS: dict[str, dict] = {
    "default": {},
    "train-tp2-pp2-ep2": dict(tp=2, pp=2, ep=2, num_gpus=16, micro_batch=2, grad_accum=4,
                              zero=1, recompute="selective"),
    "fp8-b16": dict(dtype="fp8", batch=16, seq_len=8192),
    "fp8kv-128k": dict(kv_dtype="fp8", seq_len=131072, batch=4),
    "1m-ctx": dict(seq_len=1_000_000),
    "int4-causal-nonemb": dict(dtype="int4", attention_flops="causal",
                               active_convention="non_embedding", batch=64, seq_len=2048),
    "a100-tp4": dict(gpu="a100-80gb", tp=4, batch=8),
    "sglang-ep8": dict(engine="sglang", ep=8, tp=8, batch=32, seq_len=16384),
    "serving-latency": dict(concurrency=16, output_len=512, input_len=2048, mfu=0.5, mbu=0.7,
                            spec_draft_tokens=2, expert_imbalance=1.2, batch=16),
    "train-zero3-mfu": dict(zero=3, num_gpus=64, mfu=0.4, train_tokens=2e12, micro_batch=4,
                            recompute="full", optimizer="adamw_8bit", cp=2),
    "interleaved-pp4": dict(pp=4, pp_schedule="interleaved", num_gpus=32, tp=2,
                            moe_dispatcher="deepep", capacity_factor=1.25),
}


def _vandalize(x) -> None:
    """Empty every dict and list inside ``x`` (depth first): the per-workload memos must hand
    out containers of their own, or the second pass below would read the damage."""
    if isinstance(x, dict):
        for v in x.values():
            _vandalize(v)
        x.clear()
    elif isinstance(x, list):
        for v in x:
            _vandalize(v)
        x.clear()


def dump(out_dir: Path) -> int:
    import estimator

    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = [(p, name) for p in estimator.list_presets() for name in OPTION_SETS]
    texts = {}
    for order in (pairs, pairs[::-1]):
        for preset, name in order:
            try:
                body = estimator.estimate(preset, **OPTION_SETS[name]).to_dict()
            except Exception as e:  # noqa: BLE001 - the failure itself is the output to compare
                body = {"error": f"{type(e).__name__}: {e}"}
            text = json.dumps(body, indent=1, sort_keys=True, default=repr)
            _vandalize(body)  # a caller may change what it got: no later report may see it
            key = f"{preset}__{name}.json"
            if key in texts and texts[key] != text:
                raise SystemExit(f"{key}: the second computation differs from the first")
            texts[key] = text
    for key, text in texts.items():
        (out_dir / key).write_text(text)
    return len(texts)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/dump_reports.py OUT_DIR")
    print(dump(Path(sys.argv[1])), "reports written to", sys.argv[1])

"""The README's long-context chart: cache bytes of one sequence vs context length, 8K…1M tokens.

Dense attention (Llama-3-70B), MoE attention (Mixtral-8x22B: every layer caches K/V), four
hybrids (Qwen3-Next-80B-A3B: 12 of 48 layers attend, the rest keep a Gated DeltaNet state;
Jamba-1.5-Mini: 4 of 32 layers attend, the rest keep a Mamba state; Kimi-Linear-48B-A3B: 7 MLA
layers cache a latent, 20 keep a Kimi Delta Attention state) and DeepSeek-V3.2-Exp (every layer
caches the MLA latent plus its sparse-attention indexer key). Every number is ``estimate()``'s
``memory.inference`` ``kv_cache + state`` (bf16, batch 1, the engine layout: the indexer's keys
in fp8 with fp32 block scales, as DeepSeek's reference and vLLM store them); the script writes a
static SVG (no plotting library) and prints the per-token / per-sequence table the README shows
for every hybrid preset.

    python benchmarks/long_context_chart.py            # writes docs/long_context_cache.svg
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import estimator  # noqa: E402
from estimator import memory  # noqa: E402

MODELS = ("llama-3-70b", "mixtral-8x22b", "qwen3-next-80b-a3b", "jamba-1.5-mini",
          "kimi-linear-48b-a3b", "deepseek-v3.2-exp")
#: Hybrid presets listed in the table but not drawn (their curves sit on the others').
TABLE_ONLY = ("nemotron-h-8b", "granite-4.0-h-small", "lfm2-8b-a1b", "minimax-m1")
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
CONTEXTS = [2**k for k in range(13, 21)]  # 8K … 1M
GIB = 2**30


def cache_bytes(slug: str, ctx: int) -> int:
    """KV cache (grows with tokens) + state (constant) of one sequence of ``ctx`` tokens."""
    s = estimator.load_model(slug).spec
    return memory.kv_cache_bytes(s, 1, ctx, "bf16") + memory.state_bytes(s, 1, "bf16")


def split(slug: str) -> tuple[int, int]:
    """(KV bytes per token, state bytes per sequence), bf16, engine layout."""
    s = estimator.load_model(slug).spec
    return memory.kv_cache_bytes(s, 1, 1, "bf16"), memory.state_bytes(s, 1, "bf16")


def svg(series: dict[str, list[int]]) -> str:
    W, H, L, R, T, B = 720, 420, 70, 190, 30, 50
    xs = [math.log2(c) for c in CONTEXTS]
    ymax = max(max(v) for v in series.values()) / GIB
    ytop = 2 ** math.ceil(math.log2(ymax))
    ybot = 2 ** math.floor(math.log2(min(min(v) for v in series.values()) / GIB))

    def px(x: float) -> float:
        return L + (x - xs[0]) / (xs[-1] - xs[0]) * (W - L - R)

    def py(gib: float) -> float:
        return T + (math.log2(ytop) - math.log2(gib)) / (math.log2(ytop) - math.log2(ybot)) \
            * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - R / 2}" y="18" text-anchor="middle" font-size="14">'
           'Cache of one sequence (KV + state, bf16) vs context</text>']
    g = ybot
    while g <= ytop:
        y = py(g)
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        label = f"{g:g} GiB" if g >= 1 else f"{g * 1024:g} MiB"
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        g *= 4
    for c, x in zip(CONTEXTS, xs):
        out.append(f'<text x="{px(x):.1f}" y="{H - B + 18}" text-anchor="middle">'
                   f'{c // 1024 if c < 2**20 else 1}{"K" if c < 2**20 else "M"}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" text-anchor="middle">'
               'context (tokens, log scale)</text>')
    for i, (name, vals) in enumerate(series.items()):
        pts = " ".join(f"{px(x):.1f},{py(v / GIB):.1f}" for x, v in zip(xs, vals))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{COLORS[i]}" '
                   'stroke-width="2.5"/>')
        ly = T + 20 + 22 * i
        out.append(f'<line x1="{W - R + 12}" x2="{W - R + 36}" y1="{ly}" y2="{ly}" '
                   f'stroke="{COLORS[i]}" stroke-width="2.5"/>')
        out.append(f'<text x="{W - R + 42}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    series = {slug: [cache_bytes(slug, c) for c in CONTEXTS] for slug in MODELS}
    dest = Path(__file__).resolve().parents[1] / "docs" / "long_context_cache.svg"
    dest.write_text(svg(series))
    print(f"wrote {dest}")
    print("| model | attention / mixer layers | KV per token | state per sequence | at 8K | "
          "at 128K | at 1M |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for slug in MODELS + TABLE_ONLY:
        s = estimator.load_model(slug).spec
        tok, st = split(slug)
        v = {c: cache_bytes(slug, c) for c in (8192, 131072, 2**20)}
        kind = s.mixer.kind if s.mixer else ("MLA + DSA indexer" if s.mla else "")
        layers = (f"{s.num_attention_layers} / {s.num_mixer_layers} {kind}" if s.mixer
                  else f"{s.num_attention_layers} {kind}".strip())
        name = slug + ("" if slug in MODELS else " (not drawn)")
        print(f"| {name} | {layers} | {tok / 1024:.1f} KiB | {st / 2**20:.1f} MiB | "
              f"{v[8192] / GIB:.2f} GiB | {v[131072] / GIB:.2f} GiB | {v[2**20] / GIB:.2f} GiB |")


if __name__ == "__main__":
    main()

"""'Does it fit on N × this GPU?': the smallest deployment, checked against facts and itself."""

from __future__ import annotations

import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)

import estimator
from estimator.hardware import get_gpu
from estimator.memory import smallest_fit


def _plan(slug, **kw):
    m = estimator.load_model(slug)
    opts = estimator.make_options(**kw)
    return smallest_fit(m, opts, get_gpu(opts.gpu)), m, opts


def test_mixtral_bf16_needs_two_80gb_gpus():
    # 46.7e9 parameters × 2 bytes = 93.4 GB of weights alone > one 80 GiB H100 (85.9 GB);
    # vLLM's docs run Mixtral-8x7B with tensor_parallel_size=2 on 80 GB GPUs.
    plan, _, _ = _plan("mixtral-8x7b")
    assert plan["smallest"]["gpus"] == 2
    assert plan["tried"][0]["fits"] is False and plan["tried"][0]["per_gpu"] > 85_899_345_920


def test_small_models_fit_on_one_gpu():
    # Llama-3-8B in bf16 is 16 GB of weights: one H100 (vLLM's default deployment).
    assert _plan("llama-3-8b")[0]["smallest"]["gpus"] == 1


def test_smallest_fit_is_minimal_and_agrees_with_estimate():
    for slug in ("deepseek-v3", "qwen3-235b-a22b", "llama-4-maverick", "gpt-oss-120b"):
        plan, m, opts = _plan(slug, seq_len=8192, batch=4)
        best = plan["smallest"]
        assert best is not None, slug
        for row in plan["tried"][:-1]:
            assert "error" in row or not row["fits"], (slug, row)
        r = single_gpu.estimate(m, options=opts.replace(tp=best["tp"], pp=best["pp"],
                                                       ep=best["ep"],
                                                       num_gpus=best["tp"] * best["pp"]))
        assert r.inference.fits and r.inference.per_gpu.total == best["per_gpu"]


def test_more_gpu_memory_never_needs_more_gpus():
    for slug in ("mixtral-8x7b", "deepseek-v3", "llama-3-70b"):
        small = _plan(slug, gpu="a100-40gb")[0]["smallest"]["gpus"]
        big = _plan(slug, gpu="h200")[0]["smallest"]["gpus"]
        assert big <= small, slug


def test_report_carries_the_plan():
    d = single_gpu.estimate("mixtral-8x7b").to_dict()
    assert d["memory"]["inference"]["smallest_fit"]["smallest"]["gpus"] == 2

"""Options pinned to one GPU (tp = pp = ep = 1) unless a test sets a layout.

The option default is the automatic serving layout (0 = auto, estimator/autolayout.py, tested in
tests/test_latency.py and tests/test_engine.py). Tests of the single-GPU formulas pin the layout
they check through these wrappers, exactly as the defaults read before the auto layout."""

from __future__ import annotations

import estimator

LAYOUT_ONE_GPU = {"tp": 1, "pp": 1, "ep": 1}


def pinned(kw: dict) -> dict:
    out = dict(kw)
    if "options" not in out:
        for k, v in LAYOUT_ONE_GPU.items():
            out.setdefault(k, v)
    return out


def make_options(**kw):
    return estimator.make_options(**pinned(kw))


def estimate(model, **kw):
    return estimator.estimate(model, **pinned(kw))

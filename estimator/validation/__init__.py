"""Validation by instantiation: every estimate checked against a measurement you can rerun.

The only part of the project that imports torch (and, where installed, transformers); nothing in
``estimator`` imports this package, so ``import estimator`` stays light. Entry points:
:func:`run_validation` / :func:`validate_spec` (the app's Validate page) and
:func:`estimator.validation.cli.main` (``python -m estimator validate``).
"""

from __future__ import annotations


def run_validation(models=None, quick=True, device="cpu", **kw):
    """See :func:`estimator.validation.compare.run_validation`."""
    from .compare import run_validation as _run

    return _run(models=models, quick=quick, device=device, **kw)


def validate_spec(spec, quick=True, **kw):
    """See :func:`estimator.validation.compare.validate_spec`."""
    from .compare import validate_spec as _v

    return _v(spec, quick=quick, **kw)


__all__ = ["run_validation", "validate_spec"]

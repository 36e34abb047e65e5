"""Dense vs MoE: the dense models an MoE should be compared with.

For an MoE model M we build two dense models that keep M's trunk (layers, hidden size, attention,
vocabulary, embeddings) and replace every FFN by a dense gated FFN whose width is chosen so that

* **same total** — the dense model's total parameters equal M's total (same memory for weights);
* **same active** — the dense model's total parameters equal M's active parameters per token
  (about the same compute per token).

Widths are integers, so the match is to within ``L·3·h`` parameters (one FFN column per layer);
the residual is reported. This is the comparison the MoE literature makes (Fedus et al. 2021,
arXiv 2101.03961 §3: "FLOP-matched" dense baselines; Jiang et al. 2024, arXiv 2401.04088 §3:
Mixtral has the memory of a 47B model and the compute of a 13B one).

Also: **the dense model M's training compute buys** — for the same training FLOPs C, the
Chinchilla compute-optimal dense model (Hoffmann et al. 2022, arXiv 2203.15556: C ≈ 6·N·D with
D ≈ 20·N, so N = sqrt(C / 120)). C is the run's model FLOPs (forward + backward, no activation
recomputation: recomputing buys no model). Labelled as dense-model guidance.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from . import sections
from .errors import EstimatorError, NotAvailable
from .flops import SIX_N
from .params import count_params, dense_ffn_params, mlp_params
from .presets import Model
from .spec import ModelSpec
from .training import CHINCHILLA_TOKENS_PER_PARAM


@dataclass(frozen=True)
class DenseEquivalent:
    label: str
    spec: ModelSpec
    target_params: int
    residual: int  # dense total − target

    def to_dict(self) -> dict:
        return {"label": self.label, "intermediate_size": self.spec.intermediate_size,
                "target_params": self.target_params, "residual_params": self.residual,
                "total_params": self.target_params + self.residual}


def _dense_trunk(s: ModelSpec) -> ModelSpec:
    """``s`` with no MoE (every layer dense, width 1, gated as ``s``; trunk unchanged)."""
    return s.replace(name=s.name, num_experts=0, num_experts_per_tok=0, moe_intermediate_size=0,
                     moe_layers=(), num_shared_experts=0, shared_expert_intermediate_size=0,
                     shared_expert_gate=False, expert_bias=False, moe_output_bias=False,
                     router_bias=False, router_score_correction_bias=False, num_mtp_layers=0,
                     intermediate_size=1)


def dense_with_params(s: ModelSpec, target: int, label: str) -> DenseEquivalent:
    """The dense model with ``s``'s trunk whose total parameter count is closest to ``target``.

    Raises :class:`~estimator.errors.NotAvailable` when that dense model cannot exist (its FFN
    width would exceed the spec's bounds): ``s`` itself is valid, the comparison is not."""
    try:
        trunk = _dense_trunk(s)
        base = count_params(trunk).total - s.num_hidden_layers * dense_ffn_params(trunk)
        per_unit = s.num_hidden_layers * (mlp_params(s.hidden_size, 1, s.gated_ffn, False))
        f = max(1, round((target - base) / per_unit))
        spec = trunk.replace(name=f"{s.name}-dense-{label}", intermediate_size=f)
    except EstimatorError as e:
        raise NotAvailable(f"dense equivalent ({label})",
                           f"the dense model with the same {label.split('-')[1]} parameters "
                           f"would need {e.field}={e.value:,} ({e.problem})"
                           if isinstance(e.value, int) else
                           f"the dense model with the same {label.split('-')[1]} parameters "
                           f"is not a valid model ({e})", e) from None
    return DenseEquivalent(label=label, spec=spec, target_params=target,
                           residual=count_params(spec).total - target)


def dense_equivalents(s: ModelSpec) -> list[DenseEquivalent]:
    """[same total, same active] dense counterparts of ``s`` (empty for a dense model)."""
    if not isinstance(s, ModelSpec):
        raise EstimatorError("spec", type(s).__name__, "must be a ModelSpec (load_model(...).spec)")
    try:
        return list(_dense_equivalents(s, s.notes))
    except TypeError:  # unhashable notes (a list): computed without the cache
        return list(_dense_equivalents.__wrapped__(s, s.notes))


# Spec-only (notes keyed too: they are outside spec equality); every report's to_dict() asks.
@functools.lru_cache(maxsize=256)
def _dense_equivalents(s: ModelSpec, notes: tuple) -> tuple[DenseEquivalent, ...]:  # noqa: ARG001
    if not s.is_moe:
        return ()
    c = count_params(s)
    return (dense_with_params(s, c.total, "same-total"),
            dense_with_params(s, c.active_with_embedding, "same-active"))


def chinchilla_dense_for_compute(training_flops: float) -> dict:
    """Compute-optimal dense model for ``training_flops`` C (Hoffmann et al. 2022, arXiv
    2203.15556): ``C = SIX_N·N·D`` with ``D = CHINCHILLA_TOKENS_PER_PARAM·N``, so
    ``N = sqrt(C / (6·20))``. Pass model FLOPs (no activation recomputation)."""
    n = math.sqrt(training_flops / (SIX_N * CHINCHILLA_TOKENS_PER_PARAM))
    return {"params": n, "tokens": CHINCHILLA_TOKENS_PER_PARAM * n,
            "training_flops": training_flops,
            "convention": f"Chinchilla C = {SIX_N}·N·D, D = {CHINCHILLA_TOKENS_PER_PARAM}·N "
                          "(dense-model guidance); C = this run's model FLOPs (forward + "
                          "backward, without activation recomputation)"}


def side_by_side(report) -> dict:
    """The model and its dense equivalents under the same options, headline figures side by side.

    ``report``: the :class:`~estimator.report.Report` of the model (read, not imported: the
    comparison is a section below the report). Each dense entry holds the same headline figures
    (:func:`estimator.sections.headline`, :func:`estimator.sections.speed`) computed by the same
    section code as the main report. For an MoE model the section also gives the
    Chinchilla-optimal dense model its training compute would buy.
    """
    s = report.model.spec
    rows = [{"label": "this model", "intermediate_size": s.intermediate_size,
             **report.headline(), **sections.speed(report.serving, report.options.batch)}]
    rows += [dict(r) for r in sections.workload_memo(_DENSE_ROWS, dense_rows, s, report.options,
                                                     report.gpu)]
    out = {"rows": rows, "method": "dense gated FFN in every layer, trunk unchanged, width "
                                   "chosen to match total (same-total) or active (same-active) "
                                   "parameters"}
    model_flops = getattr(report.training, "model_flops", None)  # None: training ruled out
    if s.is_moe and model_flops:  # model FLOPs: recomputation buys no model
        out["compute_optimal_dense"] = chinchilla_dense_for_compute(model_flops)
    return out


def dense_rows(s: ModelSpec, opts, gpu) -> tuple[dict, ...]:
    """The dense-equivalent rows of :func:`side_by_side`: for each of :func:`dense_equivalents`
    of ``s``, its widths and the headline figures (:func:`estimator.sections.headline_row`)
    under ``opts`` on ``gpu``, or why it is not available. Depends on (spec, options, GPU)
    alone, so :func:`side_by_side` remembers it per workload (:data:`_DENSE_ROWS`)."""
    rows = []
    try:
        equivalents: list[DenseEquivalent | NotAvailable] = dense_equivalents(s)
    except NotAvailable:  # one of the two cannot exist: build each alone, say which and why
        equivalents = []
        c = count_params(s)
        for label, target in (("same-total", c.total), ("same-active", c.active)):
            try:
                equivalents.append(dense_with_params(s, target, label))
            except NotAvailable as e:
                e.label = label
                equivalents.append(e)
    for eq in equivalents:
        if isinstance(eq, NotAvailable):
            rows.append({"label": eq.label, "not_available": str(eq)})
            continue
        m = Model(spec=eq.spec, display_name=eq.spec.name, origin=f"dense equivalent ({eq.label})")
        try:
            row = sections.headline_row(m, opts, gpu)
        except EstimatorError as e:  # e.g. a layout the dense model's widths cannot split
            rows.append({"label": eq.label, "not_available": str(NotAvailable(
                f"dense equivalent ({eq.label})", f"the dense model cannot be estimated under "
                f"these options ({e})", e))})
            continue
        rows.append({**eq.to_dict(), **row})
    return tuple(rows)


#: (spec, options, GPU id) -> :func:`dense_rows` (sections.workload_memo)
_DENSE_ROWS: dict = {}


FORMULAS = [dense_with_params, dense_equivalents, chinchilla_dense_for_compute]

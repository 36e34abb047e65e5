"""Step time: how long one optimizer step takes under a parallel layout, and the MFU that results.

One rank of each pipeline stage is followed through a step of ``grad_accum`` micro-batches:

* **Compute** (:func:`stage_compute`): the stage's matmul FLOPs per micro-batch from
  :mod:`estimator.flops`, split by tensor/context/expert parallelism, each GEMM at the fraction
  of peak a GEMM with that many rows reaches (:func:`gemm_efficiency`: the GPU's own measured
  curve in ``configs/hardware.yaml``, else the H200's, a Hopper measurement); the FFN, expert
  and standard-attention GEMMs by their shapes (:func:`linear_seconds`: forward, dgrad and
  wgrad each no faster than the bytes they move, the wgrad accumulating into fp32), the
  attention core at the measured FlashAttention rate (:func:`attention_efficiency`). Otherwise
  backward = 2 × forward (:data:`estimator.flops.BACKWARD_PER_FORWARD`), plus recomputation.
  With ``dtype='fp8'`` the linear layers run on the FP8 tensor cores and the attention core,
  router and LM head in bf16 (DeepSeek-V3 report §3.3.1: "the embedding module, the output
  head, MoE gating modules, normalization operators, and attention operators" keep their
  original precision).
* **Communication** (:func:`collective_seconds`): every collective of
  :func:`estimator.comm.training_step_volumes` timed with NCCL's α–β model
  (:func:`estimator.comm.collective_time`) over the link its group spans on the GPU's topology
  (:meth:`estimator.hardware.Interconnect.link`; Megatron's rank order tp-cp-ep-dp-pp, TP
  innermost), at :data:`LINK_EFFICIENCY` of the datasheet bandwidth.
* **Overlap** (:func:`exposed_seconds`): what each framework hides. Data-parallel gradient
  reduction overlaps the last micro-batch's backward (PyTorch DDP buckets; Megatron
  ``--overlap-grad-reduce``), the ZeRO-1/2 parameter all-gather the next step's first forward
  (``--overlap-param-gather``), ZeRO-3's gathers the neighbouring unit's compute (FSDP
  prefetch); ring attention's K/V exchange the attention core (Transformer Engine); tensor-
  parallel and expert all-to-all collectives sit on the critical path (Megatron's defaults),
  except under DualPipe, which overlaps the all-to-all and pipeline sends of one chunk with the
  computation of another (DeepSeek-V3 report §3.2.1).
* **Pipeline** (:func:`pipeline_seconds`): 1F1B runs ``m + p − 1`` slots of the slowest stage's
  micro-batch time (bubble ``(p − 1)/m`` of the work; Narayanan et al. 2021, arXiv 2104.04473
  §2.2.1); interleaved divides the bubble by ``v`` (§2.2.2); DualPipe's bubble is
  ``(p/2 − 1)(F&B + B − 3W)`` (DeepSeek-V3 report Table 2).
* **Optimizer step**: a fused AdamW streams its states once (:func:`optimizer_seconds`).
* **MoE load imbalance**: the busiest expert-parallel rank receives ``moe_imbalance`` × the mean
  tokens; its expert compute and all-to-all set the pace.

MFU = model FLOPs of the step (3 × forward, the user's attention convention) / (step time ×
GPUs × peak), PaLM's definition (arXiv 2204.02311 App. B).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass, field
from typing import Any

from . import comm
from . import flops as flops_mod
from ._frozen import fresh, maximum, remembered
from .errors import EstimatorError
from .hardware import get_gpu, load_catalog
from .training import (
    _layer_params,
    activation_breakdown,
    mtp_stage_params,
    mtp_trained,
    parallel_plan,
    stage_layer_range,
)

#: Achieved over datasheet link bandwidth. NVLink 0.8: the H800's NVLink delivers "160 GB/s"
#: of its 200 GB/s per direction (DeepSeek-V3 report §3.2.2; DeepEP README: "~160 GB/s NVLink
#: maximum bandwidth", its kernels reach 153-158 GB/s). Network 0.9: DeepEP's internode kernels
#: reach 43-47 GB/s of a 400 Gb/s (50 GB/s) CX7 NIC at EP16-64 (DeepEP README, normal kernels).
#: PCIe: no measurement here; the NVLink fraction is assumed.
LINK_EFFICIENCY = {"nvlink": 0.8, "pcie": 0.8, "network": 0.9, "local": 1.0}

#: The GPU whose measured GEMM / attention / copy curves stand in for a GPU without its own
#: (H100, H800 and H200 share the Hopper SM and its 989 TFLOP/s dense BF16 peak).
REFERENCE_MEASURED_GPU = "h200"

#: Bytes a fused AdamW step reads and writes per parameter besides the gradient: reads fp32
#: master, exp_avg, exp_avg_sq (12), writes them back (12) and the 16-bit weight copy (2)
#: (apex/TE ``FusedAdam``, torch ``_fused_adamw``: one pass over param, grad, exp_avg,
#: exp_avg_sq).
ADAMW_STATE_TRAFFIC = 12 + 12 + 2

#: Streaming multiprocessors per GPU (vendor datasheets / whitepapers: H100 SXM, H800 and H200
#: 132; H100 PCIe 114; A100 108; B200 148).
SM_COUNT = {"h100-sxm": 132, "h800": 132, "h200": 132, "h100-pcie": 114, "a100-40gb": 108,
            "a100-80gb": 108, "b200": 148}
#: Bytes per element of a GEMM's output (bf16, also under FP8: DeepSeek-V3 report §3.3 keeps
#: activations between GEMMs in BF16) and of the weight-gradient accumulator: Megatron's
#: ``--gradient-accumulation-fusion`` (apex ``fused_weight_gradient_mlp_cuda.
#: wgrad_gemm_accum_fp32``; TE ``fuse_wgrad_accumulation`` / GroupedLinear
#: ``accumulate_into_main_grad``) runs the weight-gradient GEMM with β = 1 into the fp32
#: ``main_grad``: every micro-batch reads and writes it (4 + 4 bytes per weight).
GEMM_OUTPUT_BYTES = 2
WGRAD_ACCUMULATE_BYTES = 4 + 4

#: SMs DeepEP's normal kernels take for communication while the rest compute (DeepSeek-V3
#: report §3.2.2: "only 20 SMs are sufficient to fully utilize the bandwidths of IB and
#: NVLink"; DeepEP's default ``Buffer.num_sms = 20``).
DEEPEP_COMM_SMS = 20

#: HBM passes over each saved activation by the memory-bound kernels (:func:`elementwise_seconds`):
#: forward, the producing kernel reads its input and writes the tensor (2); backward, the
#: kernel reads the tensor and the incoming gradient and writes the outgoing one (3).
ELEMENTWISE_PASSES_FORWARD = 2
ELEMENTWISE_PASSES_BACKWARD = 3

SCHEDULES = ("1f1b", "interleaved", "dualpipe")
LAYER_KINDS = ("tp", "sp", "tp_loss", "etp", "ep_dispatch", "ep_probs", "ep_combine", "cp",
               "pp")
DP_KINDS = ("dp_grad", "expert_dp_grad", "zero_param_gather", "expert_zero_param_gather",
            "embedding_grad")


# ----------------------------------------------------------------------------------------------
# efficiency of the compute
# ----------------------------------------------------------------------------------------------

def _measured(gpu) -> tuple[dict, str]:
    if gpu.measured and "gemm_bf16_fraction_of_peak_by_m" in gpu.measured:
        return gpu.measured, f"{gpu.id} measured (configs/hardware.yaml)"
    ref = get_gpu(REFERENCE_MEASURED_GPU)
    return ref.measured or {}, (f"no measurement for {gpu.id}: the {ref.id}'s measured "
                                "fractions assumed (configs/hardware.yaml)")


def _interp_log2(table: dict, x: float) -> float:
    """Piecewise-linear interpolation in ``log2(x)`` over ``{x_i: y_i}``, clamped at the ends."""
    xs, ys = _sorted_table(tuple(table.items()))
    if not isinstance(x, (int, float)):  # array operands (a vectorized sweep): numpy's own
        import numpy as np  # piecewise-linear interpolation, clamped at the ends the same way

        return np.interp(np.log2(x), [math.log2(v) for v in xs], ys)
    return _interp_sorted(xs, ys, x)


def _interp_sorted(xs: list[float], ys: list[float], x: float) -> float:
    """:func:`_interp_log2` of a number over the table's sorted ``xs`` and their ``ys``."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1 = math.log2(xs[i - 1]), math.log2(xs[i])
    w = (math.log2(x) - x0) / (x1 - x0)
    return ys[i - 1] + w * (ys[i] - ys[i - 1])


@functools.lru_cache(maxsize=64)  # a handful of measured tables
def _sorted_table(items: tuple) -> tuple[list[float], list[float]]:
    pairs = sorted((float(k), float(v)) for k, v in items)
    return [k for k, _ in pairs], [v for _, v in pairs]


def gemm_efficiency(gpu, rows: float) -> float:
    """Fraction of the dense tensor-core peak a GEMM with ``rows`` rows (tokens) reaches.

    Interpolated in ``log2(rows)`` over the GPU's measured ``gemm_bf16_fraction_of_peak_by_m``
    (an ``(M×4096)·(4096×14336)`` bf16 GEMM on an H200: 0.24 at M=128, 0.49 at 512, 0.68 at
    2048, 0.75 at 8192), the H200's where the GPU has none. Small-M GEMMs are bound by reading
    the weights; large ones by the tensor cores' sustained clock. The same fraction is applied
    to FP8 GEMMs of the FP8 peak (DeepGEMM reports up to 1550 of the H800's 1979 FP8 TFLOP/s,
    0.78, on large shapes: the same ceiling)."""
    if load_catalog().get(gpu.id) is gpu and isinstance(rows, (int, float)):  # catalog GPUs:
        return _gemm_efficiency_cached(gpu.id, rows)  # cached (serving asks per report)
    return _gemm_efficiency(gpu, rows)


@functools.lru_cache(maxsize=4096)
def _gemm_efficiency_cached(gpu_id: str, rows: float) -> float:
    table = _gemm_table(gpu_id)
    if table is None:  # raises, naming the GPU
        return _gemm_efficiency(get_gpu(gpu_id), rows)
    return _interp_sorted(*table, max(rows, 1.0))  # = _gemm_efficiency(get_gpu(gpu_id), rows)


# The sorted (xs, ys) of a catalog GPU's tables, as _gemm_efficiency / _attention_efficiency
# read them: the cached lookups interpolate a new row count or context (every new workload)
# without rebuilding them.
@functools.lru_cache(maxsize=64)
def _gemm_table(gpu_id: str) -> tuple | None:
    table = _measured(get_gpu(gpu_id))[0].get("gemm_bf16_fraction_of_peak_by_m")
    return _sorted_table(tuple(table.items())) if table else None


@functools.lru_cache(maxsize=64)
def _attention_table(gpu_id: str) -> tuple:
    return _sorted_table(tuple(_attention_fractions(get_gpu(gpu_id)).items()))


def _gemm_efficiency(gpu, rows: float) -> float:
    table = _measured(gpu)[0].get("gemm_bf16_fraction_of_peak_by_m")
    if not table:
        raise EstimatorError("gpu", gpu.id, "has no measured GEMM efficiency to predict from")
    return _interp_log2(table, maximum(rows, 1.0))


def attention_efficiency(gpu, seq: float) -> float:
    """Fraction of the BF16 peak the causal attention core reaches at sequence length ``seq``:
    the measured ``sdpa_causal_bf16_tflops_by_seq`` (FlashAttention via
    ``scaled_dot_product_attention`` on an H200: 146, 466, 640 TFLOP/s at 1k, 4k, 16k tokens)
    over the BF16 peak, interpolated in ``log2(seq)``."""
    if load_catalog().get(gpu.id) is gpu and isinstance(seq, (int, float)):
        return _attention_efficiency_cached(gpu.id, seq)
    return _attention_efficiency(gpu, seq)


@functools.lru_cache(maxsize=4096)
def _attention_efficiency_cached(gpu_id: str, seq: float) -> float:
    # = _attention_efficiency(get_gpu(gpu_id), seq)
    return _interp_sorted(*_attention_table(gpu_id), max(seq, 1.0))


def _attention_fractions(gpu) -> dict:
    """``{seq: fraction of the BF16 peak}`` of the measured attention table."""
    meas = _measured(gpu)[0]
    table = meas.get("sdpa_causal_bf16_tflops_by_seq")
    ref_peak = get_gpu(REFERENCE_MEASURED_GPU).bf16_flops if meas is not gpu.measured \
        else gpu.bf16_flops
    return {k: v * 1e12 / ref_peak for k, v in table.items()}


def _attention_efficiency(gpu, seq: float) -> float:
    return _interp_log2(_attention_fractions(gpu), maximum(seq, 1.0))


def copy_efficiency(gpu) -> float:
    """Achieved over datasheet HBM bandwidth on a large device copy (measured ``mbu_copy``
    mean; the H200's where the GPU has none)."""
    vals = _measured(gpu)[0].get("mbu_copy") or [1.0]
    return sum(vals) / len(vals)


def gemm_bandwidth(gpu) -> float:
    """Bytes per second a GEMM streams its operands at: the measured
    ``gemm_bf16_weight_tbs_by_m`` (the weights-bound small-M GEMMs of run 4, 1.9-2.1 TB/s on an
    H200: 0.44 of its 4.8 TB/s datasheet, below the copy's 0.86) at its best, as that fraction
    of this GPU's HBM bandwidth (the H200's fraction where the GPU has none). The pessimistic
    end: DeepGEMM's published bytes-bound FP8 shapes stream at 0.45-0.80 of the H800's."""
    meas, _ = _measured(gpu)
    table = meas.get("gemm_bf16_weight_tbs_by_m")
    ref = gpu if meas is gpu.measured else get_gpu(REFERENCE_MEASURED_GPU)
    if not table:
        return gpu.bandwidth_bytes_s * copy_efficiency(gpu)
    return max(table.values()) * 1e12 / ref.bandwidth_bytes_s * gpu.bandwidth_bytes_s


@dataclass(frozen=True)
class LinearSeconds:
    """Seconds of one linear layer's GEMMs on one rank: the forward, the input-gradient
    (dgrad) and the weight-gradient (wgrad) GEMMs."""

    forward: float
    dgrad: float
    wgrad: float


def linear_seconds(gpu, m: float, n: int, k: int, groups: int, peak: float,
                   operand_bytes: int) -> LinearSeconds:
    """``groups`` GEMMs ``(m×k)·(k×n)`` (a linear layer with ``k`` inputs and ``n`` outputs on
    ``m`` rows; ``groups`` = the local experts of a grouped GEMM, Megatron
    ``--moe-grouped-gemm``), forward and backward.

    Each of the three GEMMs — forward; dgrad ``(m×n)·(n×k)``; wgrad ``(k×m)·(m×n)``, ``2·m·n·k``
    FLOPs each — takes the longer of (a roofline, Williams et al. 2009)

    * compute: FLOPs / (``peak`` × :func:`gemm_efficiency` at ``m`` rows), the measured curve;
    * memory: the bytes it moves — inputs at ``operand_bytes``, outputs at
      :data:`GEMM_OUTPUT_BYTES`, the weight gradient accumulated into the fp32 ``main_grad``
      (:data:`WGRAD_ACCUMULATE_BYTES`) — over :func:`gemm_bandwidth`.

    On the measured shape the memory term stays under the measurement, so the curve is
    unchanged there; GEMMs with few rows per weight (many local experts, few tokens each) pay
    for reading the weights and, in the wgrad, for the fp32 accumulator. Tile and wave
    quantization (NVIDIA Matrix Multiplication Background User's Guide §3.2) are left out: a
    fixed 128×256 tile over 132 SMs predicts DeepGEMM's published small-M FP8 shapes (README,
    first release) 2-5× too slow — kernels pick tiles (DeepGEMM: "unaligned block sizes") and
    split K per shape."""
    compute = 2 * groups * m * n * k / (peak * gemm_efficiency(gpu, m))
    bw = gemm_bandwidth(gpu)
    a, w, o = operand_bytes, operand_bytes, GEMM_OUTPUT_BYTES
    fwd = groups * (a * m * k + w * k * n + o * m * n) / bw
    dgrad = groups * (a * m * n + w * k * n + o * m * k) / bw
    wgrad = groups * (a * m * k + a * m * n + WGRAD_ACCUMULATE_BYTES * k * n) / bw
    return LinearSeconds(forward=maximum(compute, fwd), dgrad=maximum(compute, dgrad),
                         wgrad=maximum(compute, wgrad))


# ----------------------------------------------------------------------------------------------
# compute of one stage
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageCompute:
    """Seconds of one micro-batch on one rank of a pipeline stage."""

    forward: float
    backward: float
    recompute: float
    weight_grad: float  # the share of ``backward`` that is weight gradients (DualPipe's W)
    attention: float  # forward + backward attention core (what ring attention can hide under)
    model_flops: int  # this rank's model FLOPs per micro-batch (3 × forward, no recompute)
    elementwise: float = 0.0  # memory-bound kernels, forward + backward (+ recompute)


def stage_layers(spec, pp_parts: int, chunks: tuple[int, ...]) -> tuple[int, int, bool, bool]:
    """(dense layers, MoE layers, holds the embedding, holds the head) of the model chunks
    ``chunks`` when the model is cut into ``pp_parts`` contiguous parts
    (:func:`estimator.training.stage_layer_range`)."""
    moe = sorted(spec.moe_layers)
    n_dense = n_moe = 0
    for c in chunks:
        start, end = stage_layer_range(spec.num_hidden_layers, pp_parts, c)
        k = bisect.bisect_left(moe, end) - bisect.bisect_left(moe, start)
        n_moe += k
        n_dense += end - start - k
    return n_dense, n_moe, 0 in chunks, pp_parts - 1 in chunks


def compute_sm_share(gpu, opts, plan, n_moe: int) -> float:
    """Share of the SMs left to compute: ``1 − DEEPEP_COMM_SMS/SMs`` while DeepEP kernels run
    beside the computation (``moe_dispatcher='deepep'`` with expert parallelism under DualPipe,
    which overlaps them), else 1 (a dispatch that runs alone leaves every SM to the GEMMs that
    follow it). A GPU without an SM count in :data:`SM_COUNT` keeps all of them."""
    sms = SM_COUNT.get(gpu.id)
    if (opts.moe_dispatcher != "deepep" or opts.pp_schedule != "dualpipe" or not n_moe
            or plan.ep == 1 or not sms):
        return 1.0
    return 1 - DEEPEP_COMM_SMS / sms


def stage_compute(spec, opts, plan, gpu, n_dense: int, n_moe: int, first: bool, last: bool,
                  saved_per_layer: tuple[int, int] | None = None) -> StageCompute:
    """Compute seconds of one micro-batch on one rank holding ``n_dense`` dense and ``n_moe``
    MoE layers (and the embedding / LM head when ``first`` / ``last``).

    Per layer the rank multiplies its ``T = micro_batch·seq_len/cp`` tokens by its ``1/tp`` of
    each matrix (GEMM rows ``T``); the routed experts see ``T/tp`` tokens per rank (sequence-
    parallel shard), ``k`` copies each, spread over ``E/ep`` local experts, so each expert GEMM
    has ``T/tp·k·ep·etp/E`` rows; the busiest rank does ``moe_imbalance`` × the mean; a capacity
    factor pads every expert to ``CF`` × its share (hardware FLOPs). The FFN (dense, shared and
    routed: one grouped GEMM over the ``E/ep`` local experts) and standard attention
    projections are timed by shape (:func:`linear_seconds`); MLA/MoA projections, the router and
    the head at the measured curve for ``T`` rows, backward = 2 × forward. The attention core is the
    causal work a FlashAttention kernel executes, ``1/(tp·cp)`` of it per rank.

    The last stage also runs the multi-token-prediction modules when they are trained
    (``mtp_training``; :func:`estimator.flops.mtp_forward_flops`): each adds one layer of its
    block's kind, its ``eh_proj`` (``2h → h``) and one more pass of the output head."""
    n_mtp = spec.num_mtp_layers if last and mtp_trained(spec, opts) else 0
    if n_mtp:
        if spec.num_experts:
            n_moe += n_mtp
        else:
            n_dense += n_mtp
    tp, cp, ep, etp = plan.tp, plan.cp, plan.ep, plan.etp
    b, s = opts.micro_batch, opts.seq_len
    T = b * -(-s // cp)
    sm_share = compute_sm_share(gpu, opts, plan, n_moe)
    p = flops_mod.per_token_flops(spec)
    L = spec.num_hidden_layers
    lin_peak = gpu.peak_flops(opts.dtype)
    bf16_peak = gpu.peak_flops("fp32" if opts.dtype == "fp32" else "bf16")
    eff_T = gemm_efficiency(gpu, T)
    attn_proj = flops_mod.attention_projection_flops_per_token(spec)
    dense_ffn = flops_mod.dense_ffn_flops_per_token(spec) if spec.intermediate_size else 0
    fwd = 0.0
    model = 0
    # dense layers and the non-expert part of MoE layers: T rows, 1/tp of the columns
    lin = n_dense * (attn_proj + dense_ffn)
    if n_mtp:
        lin += n_mtp * flops_mod.matmul_flops(1, 2 * spec.hidden_size, spec.hidden_size)
    shared = flops_mod.shared_expert_flops_per_token(spec) if n_moe else 0
    if n_moe:
        lin += n_moe * (attn_proj + shared)
    model += T * lin // tp
    # the FFN GEMMs (dense, shared and routed experts) by their shapes (linear_seconds); the
    # rest of the projections at the measured curve for T rows
    h = spec.hidden_size
    n_up = 2 if spec.gated_ffn else 1
    op_bytes = {"fp8": 1, "fp32": 4}.get(opts.dtype, 2)
    shaped = [0.0, 0.0, 0.0]  # forward, dgrad, wgrad seconds

    def ffn(layers: int, m: float, width: int, groups: int) -> None:
        for n_out, k_in in ((n_up * width, h), (h, width)):
            ls = linear_seconds(gpu, m, n_out, k_in, groups, lin_peak, op_bytes)
            shaped[0] += layers * ls.forward
            shaped[1] += layers * ls.dgrad
            shaped[2] += layers * ls.wgrad

    rest = lin
    if spec.mla is None and spec.moa is None:  # standard attention: fused QKV (+ Qwen3-Next's
        # output gate) and the output projection, 1/tp of the heads each
        a, g, d = spec.num_attention_heads, spec.num_key_value_heads, spec.head_dim
        q_out = (a + 2 * g + (a if spec.attention_output_gate else 0)) * d
        for n_out, k_in in ((-(-q_out // tp), h), (h, -(-a * d // tp))):
            ls = linear_seconds(gpu, T, n_out, k_in, 1, lin_peak, op_bytes)
            shaped[0] += (n_dense + n_moe) * ls.forward
            shaped[1] += (n_dense + n_moe) * ls.dgrad
            shaped[2] += (n_dense + n_moe) * ls.wgrad
        rest -= (n_dense + n_moe) * attn_proj
    if n_dense and spec.intermediate_size:
        ffn(n_dense, T, -(-spec.intermediate_size // tp), 1)
        rest -= n_dense * dense_ffn
    if n_moe and spec.num_shared_experts:
        ffn(n_moe, T, -(-spec.shared_expert_intermediate_size // tp), 1)
        rest -= n_moe * flops_mod.ffn_flops_per_token(h, spec.shared_expert_intermediate_size,
                                                      spec.gated_ffn)
    fwd += T * rest / tp / (lin_peak * eff_T)
    if n_moe:
        router = flops_mod.router_flops_per_token(spec)
        fwd += n_moe * T * router / tp / (bf16_peak * eff_T)
        k, E = spec.num_experts_per_tok, spec.num_experts
        rows_rank = T / tp * k * opts.moe_imbalance
        pad = opts.capacity_factor if opts.capacity_factor > 0 else 1.0
        # grouped GEMM over the E/ep local experts, each with its expected rows (padded to
        # capacity), 1/etp of the width
        rows_expert = rows_rank * ep * etp / E * pad
        ffn(n_moe, rows_expert, -(-spec.moe_intermediate_size // etp), -(-E // ep))
        model += n_moe * T * (router + flops_mod.routed_expert_flops_per_token(spec)) // tp
    fwd += shaped[0]
    # attention core: the work the kernel executes (FlashAttention skips the masked half; an
    # eager kernel runs the square), per layer the model's average
    executed = "causal" if opts.flash_attention else "full"
    # forward_flops without re-checking the validated options' micro_batch and seq_len, once
    # when the executed work is the model's convention
    f_exec = flops_mod._forward(spec, p, b, s, executed, "all")
    f_model = (f_exec if opts.attention_flops == executed else
               flops_mod._forward(spec, p, b, s, opts.attention_flops, "all"))
    core_causal = f_exec.attention_core / L
    core_model = f_model.attention_core / L
    n_layers = n_dense + n_moe
    attn_f = n_layers * core_causal / (tp * cp) / (bf16_peak * attention_efficiency(gpu, s / cp))
    fwd += attn_f
    model += int(n_layers * core_model / (tp * cp))
    if last:
        head = (1 + n_mtp) * T * p.lm_head / tp
        fwd += head / (bf16_peak * eff_T)
        model += int(head)
    bwd = flops_mod.BACKWARD_PER_FORWARD * (fwd - shaped[0]) + shaped[1] + shaped[2]
    # FlashAttention's backward recomputes QKᵀ (flops.flash_attention_recompute_flops)
    if opts.flash_attention:
        heads, d_qk, d_v = flops_mod.attention_dims(spec)
        bwd += attn_f * d_qk / (d_qk + d_v)
    head_f = ((1 + n_mtp) * T * p.lm_head / tp / (bf16_peak * eff_T)) if last else 0.0
    rec = {"none": 0.0, "selective": attn_f, "full": fwd - head_f}[opts.recompute]
    fwd, bwd, rec, attn_f = (x / sm_share for x in (fwd, bwd, rec, attn_f))
    ew = elementwise_seconds(spec, opts, plan, gpu, n_dense, n_moe, saved_per_layer)
    return StageCompute(forward=fwd, backward=bwd, recompute=rec,
                        weight_grad=(fwd - attn_f - shaped[0] / sm_share
                                     + shaped[2] / sm_share), attention=attn_f * (1 + 2),
                        model_flops=flops_mod.FORWARD_BACKWARD * model, elementwise=ew)


def elementwise_seconds(spec, opts, plan, gpu, n_dense: int, n_moe: int,
                        saved_per_layer: tuple[int, int] | None = None) -> float:
    """Seconds of the memory-bound kernels (norms, activations, RoPE, MoE permute/unpermute,
    residual adds, fp8 casts) of one micro-batch: every activation the layers save for the
    backward (:func:`estimator.training.activation_breakdown` before recomputation, Megatron's
    fused-kernel set) is written by the kernel that makes it, which reads an input of its size
    (:data:`ELEMENTWISE_PASSES_FORWARD`), and in the backward it is read with the incoming
    gradient and the outgoing gradient written (:data:`ELEMENTWISE_PASSES_BACKWARD`); full
    recomputation runs the forward passes again. At the HBM bandwidth × the measured copy
    efficiency (a roofline floor: Williams et al. 2009). The GEMMs' own operands are in
    :func:`gemm_efficiency`'s measurement. ``saved_per_layer``: (dense, MoE) layer totals of
    that breakdown when the caller has them (the memory section, ``recompute='none'``)."""
    if saved_per_layer is None:
        act = activation_breakdown(spec, opts.replace(recompute="none")
                                   if opts.recompute != "none" else opts, plan)
        saved_per_layer = (act.get("dense_layer_total", 0), act.get("moe_layer_total", 0))
    saved = n_dense * saved_per_layer[0] + n_moe * saved_per_layer[1]
    passes = (ELEMENTWISE_PASSES_FORWARD * (2 if opts.recompute == "full" else 1)
              + ELEMENTWISE_PASSES_BACKWARD)
    return passes * saved / (gpu.bandwidth_bytes_s * copy_efficiency(gpu))


# ----------------------------------------------------------------------------------------------
# communication
# ----------------------------------------------------------------------------------------------

def group_span(kind: str, plan) -> int:
    """Consecutive ranks a group of ``kind`` spans in Megatron's order (tp innermost, then cp,
    then dp / ep, pp outermost: ``parallel_state`` RankGenerator ``order='tp-cp-ep-dp-pp'``;
    experts ``etp-ep-edp-pp``): TP ``tp``; CP ``tp·cp``; data parallel ``tp·cp·dp``; EP
    ``etp·ep``; a pipeline send reaches the next stage ``tp·cp·dp`` ranks away."""
    if kind in ("tp", "sp", "tp_loss"):
        return plan.tp
    if kind == "etp":
        return plan.etp
    if kind == "cp":
        return plan.tp * plan.cp
    if kind in ("ep_dispatch", "ep_probs", "ep_combine"):
        return plan.etp * plan.ep
    if kind == "pp":
        return 2 * plan.tp * plan.cp * plan.dp
    if kind == "embedding_grad":
        return plan.world
    return plan.tp * plan.cp * plan.dp


def expected_remote_nodes(nodes: int, k: int) -> float:
    """Distinct other nodes a token's ``k`` experts land on when the EP group spans ``nodes``
    nodes and experts are chosen uniformly: ``(nodes − 1)·(1 − (1 − 1/nodes)^k)``. DeepEP's
    internode dispatch sends a token once per destination node over RDMA and forwards it inside
    the node over NVLink (DeepEP README: "forwarding data from NVLink domain to RDMA domain";
    DeepSeek-V3 report §3.2.2), so this, not ``k``, counts the copies on the network."""
    if nodes <= 1:
        return 0.0
    return (nodes - 1) * (1 - (1 - 1 / nodes) ** k)


def collective_seconds(v: comm.Volume, plan, gpu, spec=None, opts=None) -> float:
    """Seconds of all ``v.calls`` calls of ``v`` (NCCL α–β, :func:`estimator.comm.
    collective_time`), over the link of :func:`group_span` at :data:`LINK_EFFICIENCY`.
    Expert all-to-alls take ``moe_imbalance`` × as long (the busiest rank's share); with
    ``moe_dispatcher='deepep'`` across nodes the network carries each token once per
    destination node (:func:`expected_remote_nodes`)."""
    ic = gpu.interconnect
    if ic is None:
        raise EstimatorError("gpu", gpu.id, "has no interconnect in configs/hardware.yaml")
    span = group_span(v.kind, plan)
    link = ic.link(span)
    bw = ic.bytes_s(link)
    eff = LINK_EFFICIENCY[link]
    one = comm.collective_time(v.op, v.payload_bytes, v.ranks, link, bw, eff)
    if v.kind.startswith("ep_") and opts is not None:
        one *= opts.moe_imbalance
        if opts.moe_dispatcher == "deepep" and link == "network" and ic.nvlink_domain > 1:
            nodes = max(1, span // ic.nvlink_domain)
            k = spec.num_experts_per_tok
            rows = v.payload_bytes / k  # payload is T·k rows; one token's bytes × T
            net = rows * expected_remote_nodes(nodes, k) / (bw * eff) * opts.moe_imbalance
            one = comm.NCCL_BASE_LATENCY_S + net
    return one * v.calls


# ----------------------------------------------------------------------------------------------
# the step
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StepTime:
    """One optimizer step of the whole job (the slowest stage sets it)."""

    step_time_s: float
    breakdown: dict[str, float]  # seconds: compute, recompute, exposed comm per kind, bubble, ...
    model_flops: int  # per step, whole job
    tokens_per_step: int
    num_gpus: int
    peak_flops: float
    mfu: float
    slowest_stage: int
    schedule: str
    efficiency: dict[str, Any]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"step_time_s": self.step_time_s, "breakdown_s": dict(self.breakdown),
                "model_flops_per_step": self.model_flops, "tokens_per_step": self.tokens_per_step,
                "mfu": self.mfu, "slowest_stage": self.slowest_stage,
                "pp_schedule": self.schedule, "efficiency": fresh(self.efficiency),
                "notes": list(self.notes)}


def optimizer_seconds(local_params: int, grad_bytes: int, gpu) -> float:
    """A fused AdamW step on ``local_params`` parameters: ``(ADAMW_STATE_TRAFFIC + grad_bytes)``
    bytes each over the HBM bandwidth at the measured copy efficiency (memory-bound)."""
    return (local_params * (ADAMW_STATE_TRAFFIC + grad_bytes)
            / (gpu.bandwidth_bytes_s * copy_efficiency(gpu)))


def pipeline_seconds(schedule: str, pp: int, m: int, chunks: int, slot: float,
                     fb_overlap: float = 0.0, backward: float = 0.0, weight: float = 0.0
                     ) -> tuple[float, float]:
    """(busy seconds, bubble seconds) of the slowest rank for ``m`` micro-batches of ``slot``
    seconds each (forward + backward of its stage).

    1F1B: bubble ``(p − 1)·slot`` (Narayanan et al. 2021 §2.2.1: ``(p−1)/m`` of the busy time).
    Interleaved with ``v`` chunks: ``(p − 1)·slot/v`` (§2.2.2). DualPipe: ``(p/2 − 1)(F&B + B −
    3W)`` per chunk (DeepSeek-V3 report Table 2; DualPipe README), with ``F&B`` the overlapped
    forward+backward pair (``fb_overlap``), ``B`` a backward chunk and ``W`` its weight-gradient
    part."""
    busy = m * slot
    if pp == 1:
        return busy, 0.0
    if schedule == "interleaved":
        return busy, (pp - 1) * slot / chunks
    if schedule == "dualpipe":
        return busy, max(0.0, (pp / 2 - 1) * (fb_overlap + backward - 3 * weight))
    return busy, (pp - 1) * slot


def step_time(model, opts, gpu=None, *, saved_per_layer: tuple[int, int] | None = None,
              forward_per_sequence: int | None = None) -> StepTime:
    """Predicted seconds of one optimizer step of ``model`` under ``opts`` on ``gpu`` (module
    docstring for the model). Cached per (spec, options, GPU id): all three are immutable, and
    ``estimate()`` asks again for every report of the same workload.

    ``saved_per_layer`` and ``forward_per_sequence``: values the caller already has and this
    would recompute (the memory section's per-layer saved activations without recomputation;
    the FLOPs section's forward of one sequence in the options' convention). They change the
    cost of the call, never its result."""
    spec = model.spec if hasattr(model, "spec") else model
    gpu = gpu or get_gpu(opts.gpu)
    hints = (saved_per_layer, forward_per_sequence)
    if load_catalog().get(gpu.id) is not gpu:
        return _step_time(spec, opts, gpu, *hints)
    return remembered(_STEP_CACHE, (spec, opts, gpu.id), STEP_CACHE_SIZE,
                      lambda: _step_time(spec, opts, gpu, *hints))


#: Step times of (spec, options, GPU id), all immutable (cleared when full; a dict rather than
#: ``lru_cache`` so that the hints stay out of the key).
_STEP_CACHE: dict[tuple, StepTime] = {}
STEP_CACHE_SIZE = 4096


def _step_time(spec, opts, gpu, saved_per_layer=None, forward_per_sequence=None) -> StepTime:
    plan = parallel_plan(spec, opts)
    pp, m = plan.pp, opts.grad_accum
    schedule = opts.pp_schedule if pp > 1 else "1f1b"
    if schedule == "dualpipe" and (pp % 2 or m % 2):
        raise EstimatorError("pp_schedule", schedule, "DualPipe needs an even pp and an even "
                             f"grad_accum (got pp={pp}, grad_accum={m})")
    v = opts.virtual_stages if schedule == "interleaved" else 1
    parts = pp * v
    if parts > spec.num_hidden_layers:
        raise EstimatorError("virtual_stages", opts.virtual_stages,
                             f"pp·virtual_stages = {parts} must not exceed the "
                             f"{spec.num_hidden_layers} layers")
    per_stage_opts = opts.replace(pp_schedule="1f1b") if schedule == "dualpipe" else opts
    # stages that differ: the first (embedding), the last (head), the fullest middle one
    candidates = sorted({0, pp - 1, min(1, pp - 1)})
    rows = []
    step_vols: dict[int, tuple] = {}
    for st in candidates:
        chunks = tuple(st + pp * c for c in range(v))
        nd, nm, first, last = stage_layers(spec, parts, chunks)
        c = stage_compute(spec, opts, plan, gpu, nd, nm, first, last, saved_per_layer)
        vols = comm.training_step_volumes(spec, per_stage_opts, stage=st)
        if schedule != "dualpipe":
            step_vols[st] = vols
        layer_comm: dict[str, float] = {}
        for vol in vols:
            if vol.kind in LAYER_KINDS:
                t = collective_seconds(vol, plan, gpu, spec, opts) / m
                layer_comm[vol.kind] = layer_comm.get(vol.kind, 0.0) + t
        rows.append((st, c, layer_comm))

    def exposed_layer(c: StageCompute, lc: dict[str, float]) -> dict[str, float]:
        out = {}
        for kind, t in lc.items():
            if kind == "cp":  # TE ring attention: K/V exchange hidden under the core
                out[kind] = max(0.0, t - c.attention)
            elif schedule == "dualpipe" and kind in ("ep_dispatch", "ep_probs", "ep_combine",
                                                     "pp"):
                out[kind] = t  # settled below against the paired chunk's compute
            else:
                out[kind] = t
        if schedule == "dualpipe":
            hide = sum(out.pop(k, 0.0) for k in ("ep_dispatch", "ep_probs", "ep_combine", "pp"))
            out["ep_pp_dualpipe"] = max(0.0, hide - (c.forward + c.backward + c.recompute
                                                     + c.elementwise))
        return out

    slots = []
    for st, c, lc in rows:
        ex = exposed_layer(c, lc)
        slots.append((c.forward + c.backward + c.recompute + c.elementwise + sum(ex.values()),
                      st, c, ex))
    slot, slow_st, c_slow, ex_slow = max(slots, key=lambda r: r[0])
    if schedule == "dualpipe":  # rank r runs stages r and p−1−r alike: the pair's average,
        # for the end ranks (stages 0 and p−1) and an interior one (1 and p−2, like 1 twice)
        by_stage = {r[1]: r[0] for r in slots}
        slot = max((by_stage[0] + by_stage[pp - 1]) / 2, by_stage[min(1, pp - 1)])
    fb = c_slow.forward + c_slow.backward + c_slow.recompute + c_slow.elementwise
    busy, bubble = pipeline_seconds(schedule, pp, m, v, slot, fb_overlap=fb,
                                    backward=c_slow.backward, weight=c_slow.weight_grad)

    # data parallel and the optimizer step, per stage; the step ends with the slowest
    dp_exposed = 0.0
    dp_kinds: dict[str, float] = {}
    opt_s = 0.0
    for st, c, _ in rows:
        vols = step_vols.get(st) or comm.training_step_volumes(spec, opts, stage=st)
        t_grad = t_gather = 0.0
        z3_f = z3_b = 0.0
        for vol in vols:
            if vol.kind not in DP_KINDS:
                continue
            t = collective_seconds(vol, plan, gpu)
            if plan.zero == 3:
                if vol.phase == comm.FORWARD:
                    z3_f += t
                else:
                    z3_b += t
            elif vol.kind in ("zero_param_gather", "expert_zero_param_gather"):
                t_gather += t
            else:
                t_grad += t
        # overlap: grads with the last backward (+ the stage's cooldown slack), the gather
        # with the next step's first forward (+ the warm-up slack); ZeRO-3 per micro-batch
        slack_b = st * c.backward
        slack_f = st * c.forward
        if plan.zero == 3:
            e = (max(0.0, z3_f - m * c.forward) + max(0.0, z3_b - m * c.backward))
        else:
            per = m if plan.zero == 2 else 1
            e = (max(0.0, t_grad / per - c.backward - slack_b) * (per if per > 1 else 1)
                 + max(0.0, t_gather - c.forward - slack_f))
        if e >= dp_exposed:
            dp_exposed = e
            dp_kinds = {"dp_exposed": e}
        ne, ex = _local_params(spec, opts, plan, st)
        if schedule == "dualpipe" and pp - 1 - st != st:  # the rank's second stage (2 copies)
            ne2, ex2 = _local_params(spec, opts, plan, pp - 1 - st)
            ne, ex = ne + ne2, ex + ex2
        opt_s = max(opt_s, optimizer_seconds(ne + ex, comm.grad_reduce_bytes(opts), gpu))

    total = busy + bubble + dp_exposed + opt_s
    breakdown = {"compute": m * (c_slow.forward + c_slow.backward),
                 "recompute": m * c_slow.recompute, "elementwise": m * c_slow.elementwise}
    for k, t in ex_slow.items():
        breakdown[f"comm_{k}"] = m * t
    if schedule == "dualpipe":  # the slot is the pair's average: keep parts adding up
        scale = busy / max(1e-30, sum(breakdown.values()))
        breakdown = {k: t * scale for k, t in breakdown.items()}
    breakdown["bubble"] = bubble
    breakdown.update({f"comm_{k}": t for k, t in dp_kinds.items()})
    breakdown["optimizer"] = opt_s

    tokens = opts.micro_batch * m * plan.dp * opts.seq_len
    fwd_seq = forward_per_sequence or flops_mod.training_forward(
        spec, flops_mod.forward_flops(spec, 1, opts.seq_len, opts.attention_flops, "all"), 1,
        opts.seq_len, opts.attention_flops, opts.mtp_training).total
    model_flops = flops_mod.FORWARD_BACKWARD * fwd_seq * opts.micro_batch * m * plan.dp
    peak = gpu.peak_flops(opts.dtype)
    mfu = model_flops / (total * plan.world * peak)
    src = _measured(gpu)[1]
    T = opts.micro_batch * -(-opts.seq_len // plan.cp)
    eff = {"source": src, "gemm_rows": T, "gemm_fraction_of_peak": gemm_efficiency(gpu, T),
           "gemm_stream_bytes_s": gemm_bandwidth(gpu),
           "attention_fraction_of_bf16_peak": attention_efficiency(gpu, opts.seq_len / plan.cp),
           "link_efficiency": dict(LINK_EFFICIENCY)}
    notes = []
    if schedule == "dualpipe":
        notes.append("DualPipe keeps two copies of each stage's parameters (DualPipe README: "
                     "2x parameter memory); the memory section does not count the second copy")
    if mtp_trained(spec, opts):
        notes.append(f"mtp_training: the last stage also runs the {spec.num_mtp_layers} "
                     "multi-token-prediction module(s) (a block, eh_proj and a head pass each)")
    if opts.moe_imbalance > 1 and spec.is_moe:
        notes.append(f"busiest expert-parallel rank at {opts.moe_imbalance}x the mean tokens")
    return StepTime(step_time_s=total, breakdown=breakdown, model_flops=model_flops,
                    tokens_per_step=tokens, num_gpus=plan.world, peak_flops=peak, mfu=mfu,
                    slowest_stage=slow_st, schedule=schedule, efficiency=eff,
                    notes=tuple(notes))


def _local_params(spec, opts, plan, stage: int) -> tuple[int, int]:
    """(non-expert, expert) parameters whose optimizer states this rank updates."""
    lp = _layer_params(spec, plan)
    nd, nm, first, last = stage_layers(spec, plan.pp, (stage,))
    ne = nd * lp.dense + nm * lp.moe_non_expert + (lp.embedding if first else 0)
    ne += (lp.head + lp.final_norm) if last else 0
    ex = nm * lp.moe_expert
    if last and mtp_trained(spec, opts):
        mtp_ne, mtp_ex = mtp_stage_params(spec, plan, lp, opts.pp_schedule)
        ne, ex = ne + mtp_ne, ex + mtp_ex
    if plan.zero >= 1:
        ne, ex = -(-ne // plan.dp_shard), -(-ex // plan.edp)
    return ne, ex


FORMULAS = [gemm_efficiency, attention_efficiency, copy_efficiency, gemm_bandwidth,
            linear_seconds, compute_sm_share,
            stage_compute, elementwise_seconds, group_span,
            expected_remote_nodes, collective_seconds, optimizer_seconds, pipeline_seconds,
            step_time]

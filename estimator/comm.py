"""Collective communication: the bytes each rank sends, and how long that takes.

The one place for the volume and the time of every collective that the training step-time
model and the serving latency model charge. Both describe a collective by its *payload* (the
bytes of the tensor each rank hands to it, what ``torch.distributed`` is called with) and the
number of ranks; the bytes on the wire and the time follow from here.

* **Volumes** follow NCCL's ring algorithms, as nccl-tests' ``doc/PERFORMANCE.md`` derives its
  "bus bandwidth": each rank sends ``2(n−1)/n`` of the buffer in an all-reduce (a
  reduce-scatter then an all-gather), ``(n−1)/n`` of the full buffer in an all-gather or a
  reduce-scatter, ``(n−1)/n`` of its send buffer in an even all-to-all (the ``1/n`` addressed to
  itself stays local), the whole message in a point-to-point send.
* **Time** is the α–β model of NCCL's own tuner (``src/graph/tuning.cc``, v2.28.7,
  ``ncclTunerConstantsDefaults``, Ring/Simple protocol): a base latency per collective
  (8.4 µs) plus a hardware latency per ring step (NVLink 3.4 µs, PCI 5.7 µs, network 14.0 µs)
  times the number of steps, plus the bytes each rank sends over the link's bandwidth.
  ``efficiency`` scales the datasheet bandwidth to what the kernels achieve (a caller's named,
  sourced constant: e.g. DeepEP's README measures 153-158 GB/s of the H800's 160 GB/s NVLink).
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .errors import EstimatorError

ALL_REDUCE = "all_reduce"
ALL_GATHER = "all_gather"
REDUCE_SCATTER = "reduce_scatter"
ALL_TO_ALL = "all_to_all"
SEND_RECV = "send_recv"
COLLECTIVES = (ALL_REDUCE, ALL_GATHER, REDUCE_SCATTER, ALL_TO_ALL, SEND_RECV)

#: NCCL tuner base latency of one Ring/Simple collective, seconds (tuning.cc v2.28.7,
#: ``baseLatencies[Ring][Simple]`` = 8.4 µs).
NCCL_BASE_LATENCY_S = 8.4e-6
#: NCCL tuner hardware latency per ring step, seconds (tuning.cc v2.28.7,
#: ``hwLatencies[NVLINK|PCI|NET][Ring][Simple]`` = 3.4, 5.7, 14.0 µs).
NCCL_STEP_LATENCY_S = {"local": 0.0, "nvlink": 3.4e-6, "pcie": 5.7e-6, "network": 14.0e-6}


def _check(op: str, ranks: int) -> None:
    if op not in COLLECTIVES:
        raise EstimatorError("collective", op, "must be one of " + ", ".join(COLLECTIVES))
    if not isinstance(ranks, int) or ranks < 1:
        raise EstimatorError("ranks", ranks, "must be a whole number >= 1")


@functools.lru_cache(maxsize=1024)  # (op, ranks) pairs; errors are raised, not cached
def wire_fraction(op: str, ranks: int) -> Fraction:
    """Bytes each rank sends per payload byte, for ``ranks`` ranks (exact).

    nccl-tests ``doc/PERFORMANCE.md``: all-reduce ``2(n−1)/n``; all-gather and reduce-scatter
    ``(n−1)/n`` of the full (gathered / pre-scatter) buffer; all-to-all ``(n−1)/n`` of the
    rank's even send buffer; a send moves its whole message. One rank sends nothing.
    """
    _check(op, ranks)
    if op == SEND_RECV:
        return Fraction(1)
    if ranks == 1:
        return Fraction(0)
    share = Fraction(ranks - 1, ranks)
    return 2 * share if op == ALL_REDUCE else share


def sent_bytes(op: str, payload_bytes: int, ranks: int) -> Fraction:
    """Bytes one rank puts on the wire for a collective with ``payload_bytes`` per rank
    (:func:`wire_fraction` × payload; exact, may be fractional per rank)."""
    return wire_fraction(op, ranks) * payload_bytes


def ring_steps(op: str, ranks: int) -> int:
    """Sequential steps of NCCL's ring: ``2(n−1)`` for all-reduce, ``n−1`` for all-gather,
    reduce-scatter and (pairwise) all-to-all, 1 for a send (tuning.cc: ``nsteps``)."""
    _check(op, ranks)
    if op == SEND_RECV:
        return 1
    return 2 * (ranks - 1) if op == ALL_REDUCE else ranks - 1


def collective_time(op: str, payload_bytes: int, ranks: int, link: str, bytes_s: float,
                    efficiency: float = 1.0) -> float:
    """Seconds for one collective: NCCL's α–β model (tuning.cc v2.28.7, Ring/Simple).

    ``NCCL_BASE_LATENCY_S + ring_steps · NCCL_STEP_LATENCY_S[link] + sent_bytes / (bytes_s ·
    efficiency)``; ``link`` is ``Interconnect.link(ranks)`` and ``bytes_s`` its per-GPU,
    per-direction bandwidth. Zero when nothing crosses a link (one rank, or ``local``).
    """
    if link not in NCCL_STEP_LATENCY_S:
        raise EstimatorError("link", link, "must be one of " + ", ".join(NCCL_STEP_LATENCY_S))
    if ranks == 1 and op != SEND_RECV or link == "local":
        return 0.0
    if bytes_s <= 0 or efficiency <= 0:
        raise EstimatorError("bandwidth", bytes_s * efficiency, "must be > 0 for a "
                             f"collective over {link}")
    return (NCCL_BASE_LATENCY_S + ring_steps(op, ranks) * NCCL_STEP_LATENCY_S[link]
            + float(wire_fraction(op, ranks)) * payload_bytes / (bytes_s * efficiency))


# ----------------------------------------------------------------------------------------------
# what one training step sends: the collectives of each parallel dimension
# ----------------------------------------------------------------------------------------------

#: Phases of the step a collective runs in (the step-time model overlaps each differently).
FORWARD, BACKWARD, RECOMPUTE, STEP = "forward", "backward", "recompute", "step"

#: Megatron-Core tensor-parallel operators per transformer sub-block (attention, or MLP) and
#: micro-batch, from ``megatron/core/tensor_parallel/mappings.py`` and ``layers.py``
#: (Shoeybi et al. 2019, arXiv 1909.08053 §3, Figure 3: the ``f`` and ``g`` operators):
#: without sequence parallelism the column-parallel input is ``copy_to_tensor_model_parallel
#: _region`` (forward identity, backward all-reduce) and the row-parallel output
#: ``reduce_from_tensor_model_parallel_region`` (forward all-reduce, backward identity).
#: With sequence parallelism (Korthikanti et al. 2022, arXiv 2205.05198 §4.2.2, Figure 5:
#: ``g`` and ``ḡ``) the column-parallel input is all-gathered (backward: reduce-scatter) and
#: the row-parallel output reduce-scattered (backward: all-gather); and the column-parallel
#: linear does not keep the gathered input: its backward all-gathers it again for the weight
#: gradient (``LinearWithGradAccumulationAndAsyncCommunication.backward``: "if
#: ctx.sequence_parallel: ... dist_all_gather_func(all_gather_buffer, input, ...)"; Transformer
#: Engine's ``Linear`` does the same). Keys: (sequence_parallel, phase) → {op: calls}.
TP_CALLS_PER_SUBBLOCK = {
    (False, FORWARD): {ALL_REDUCE: 1},
    (False, BACKWARD): {ALL_REDUCE: 1},
    (True, FORWARD): {ALL_GATHER: 1, REDUCE_SCATTER: 1},
    (True, BACKWARD): {ALL_GATHER: 2, REDUCE_SCATTER: 1},
}
#: Megatron ``_VocabParallelCrossEntropy.forward``: three all-reduces over TP of one fp32 value
#: per token (the logits' max, the target's logit, the sum of exponentials); none backward.
VOCAB_PARALLEL_CE_ALL_REDUCES = 3
CE_REDUCE_BYTES = 4
#: DeepEP / DeepSeek-V3 fp8 dispatch: one byte per channel plus one fp32 scale per 128
#: channels (DeepSeek-V3 report §3.3.2, 1×128 tile-wise activation quantization; DeepEP README
#: "FP8 dispatching"). Combine stays bf16 (DeepEP README: "BF16 combining").
FP8_DISPATCH_TILE = 128
FP8_SCALE_BYTES = 4


@dataclass(frozen=True)
class Volume:
    """One kind of collective one rank takes part in during one optimizer step.

    ``payload_bytes`` is the tensor a rank hands to ONE call, in :func:`wire_fraction`'s
    convention: the whole buffer of an all-reduce; the full gathered output of an all-gather
    (``all_gather_into_tensor``'s output: ``ranks`` × the shard each rank contributes); the full
    input of a reduce-scatter (``reduce_scatter_tensor``'s input); the send buffer of an
    all-to-all (including the block a rank keeps); the message of a send. ``calls`` is the
    number of such calls per optimizer step on this rank, ``stage`` the pipeline stage it sits
    on, ``phase`` when in the step they run (forward / backward / recompute / step), and
    ``source`` the framework code the count comes from.
    """

    kind: str
    op: str
    ranks: int
    payload_bytes: int
    calls: int
    phase: str
    stage: int = 0
    source: str = ""

    @property
    def total_payload_bytes(self) -> int:
        """``payload_bytes · calls``: what this rank hands to these collectives per step."""
        return self.payload_bytes * self.calls

    @property
    def sent_bytes(self) -> Fraction:
        """Bytes this rank puts on the wire per step (:func:`sent_bytes` × ``calls``)."""
        return sent_bytes(self.op, self.payload_bytes, self.ranks) * self.calls

    def to_dict(self) -> dict:
        return {"kind": self.kind, "op": self.op, "ranks": self.ranks,
                "payload_bytes": self.payload_bytes, "calls": self.calls, "phase": self.phase,
                "stage": self.stage, "total_payload_bytes": self.total_payload_bytes,
                "sent_bytes": float(self.sent_bytes), "source": self.source}


def grad_reduce_bytes(opts) -> int:
    """Bytes per gradient element in the data-parallel reduction: the gradient buffer the
    ``adam_bytes`` convention keeps (:func:`estimator.training.bytes_per_param`). 16 → 2 (bf16
    gradients: PyTorch DDP/FSDP reduce ``param.grad`` in the parameters' dtype); 18 → 4
    (Megatron-Core ``DistributedDataParallelConfig.grad_reduce_in_fp32``: the fp32 ``main_grad``
    buffer is the buffer reduced); 20 → 4 (the fp32 accumulation copy is what is reduced, HF
    Ultra-Scale Playbook); fp32 training → 4."""
    if opts.dtype == "fp32" or opts.adam_bytes in (18, 20):
        return 4
    return 2


def dispatch_row_bytes(h: int, act_bytes: int, fmt: str) -> int:
    """Bytes of one token row in the MoE dispatch all-to-all: ``h·act_bytes`` (bf16, Megatron's
    ``MoEAlltoAllTokenDispatcher``), or fp8 ``h + 4·⌈h/128⌉`` (:data:`FP8_DISPATCH_TILE`)."""
    if fmt == "fp8":
        return h + FP8_SCALE_BYTES * -(-h // FP8_DISPATCH_TILE)
    return h * act_bytes


#: Megatron ``MoEAlltoAllTokenDispatcher.preprocess``: ``num_local_tokens_per_expert`` (``E``
#: int64 counts, ``routing_map.sum(dim=0).long()``) is all-gathered over the expert-TP × EP group
#: (``gather_from_sequence_parallel_region(..., group=self.tp_ep_group)``) to size the
#: all-to-all; not done with ``moe_pad_expert_input_to_capacity`` (fixed capacity).
TOKEN_COUNT_BYTES = 8


def balanced_split(rows: int, ranks: int) -> tuple[int, ...]:
    """``rows`` token copies spread as evenly as whole rows allow over ``ranks`` destinations
    (the first ``rows mod ranks`` get one more): uniform routing."""
    q, r = divmod(rows, ranks)
    return (q + 1,) * r + (q,) * (ranks - r)


def ep_all_to_all_payloads(sent: Sequence[int], received: Sequence[int], dispatch_row: int,
                           row: int, prob_bytes: int) -> dict[tuple[str, str], int]:
    """Payload bytes of one MoE layer's expert-parallel all-to-alls on one rank, per micro-batch
    pass, from the token copies it sends to each EP rank (``sent[j]``, its own block included)
    and receives from each (``received[j]``) — Megatron-Core ``MoEAlltoAllTokenDispatcher``
    (``megatron/core/transformer/moe/token_dispatcher.py``):

    * ``dispatch_all_to_all``: ``all_to_all(ep_group, permutated_local_input_tokens,
      output_splits, input_splits)`` sends ``Σ sent`` rows of ``dispatch_row`` bytes, and a second
      ``all_to_all`` the ``permuted_probs`` (``Σ sent`` values of ``prob_bytes``: the router's
      probabilities travel with the tokens and are applied by the experts);
    * ``combine_all_to_all``: the experts' outputs go back, ``Σ received`` rows of ``row`` bytes;
    * backward (``all_to_all``'s autograd swaps the splits): the combine's gradient returns
      ``Σ sent`` rows, the dispatch's ``Σ received`` rows and ``Σ received`` probability
      gradients.

    Keys ``(kind, phase)``: ``ep_dispatch`` / ``ep_probs`` / ``ep_combine`` × forward /
    backward. Uniform routing is ``sent = received =`` :func:`balanced_split` ``(T·k, ep)``;
    the distributed validation passes the counts a rank measured.
    """
    s, r = sum(sent), sum(received)
    return {("ep_dispatch", FORWARD): s * dispatch_row, ("ep_probs", FORWARD): s * prob_bytes,
            ("ep_combine", FORWARD): r * row, ("ep_combine", BACKWARD): s * row,
            ("ep_dispatch", BACKWARD): r * row, ("ep_probs", BACKWARD): r * prob_bytes}


def tp_replicated_grad_params(spec, layers: int, moe_layers: int, last: bool,
                              sequence_parallel: bool) -> int:
    """Parameters per rank whose gradients Megatron all-reduces over TP once per step:
    ``megatron/core/distributed/finalize_model_grads.py::_allreduce_non_tensor_model_parallel_
    grads`` gathers every parameter marked ``sequence_parallel`` (when
    ``config.sequence_parallel``) or named ``q_layernorm``/``k_layernorm`` (when
    ``config.qk_layernorm``), flattens their gradients into ONE buffer
    (``_flatten_dense_tensors``) and all-reduces it over the TP group (SUM: each rank saw only
    its sequence shard). Marked ``sequence_parallel`` are the replicated weights that see the
    sequence-parallel activations: every layer's norms (``TENorm``/``FusedLayerNorm``), the final
    norm on the last stage, the MoE router (``router.py``: ``setattr(self.weight,
    'sequence_parallel', config.sequence_parallel)``) and the shared-expert gate; MLA's latent
    norms run on the sequence shard as well. Per-head q/k norms (``qk_norm='head'``) count with
    or without sequence parallelism."""
    from .params import layer_norm_params, norm_params, router_params

    n = 0
    if sequence_parallel:
        n += layers * layer_norm_params(spec) + moe_layers * router_params(spec)
        if spec.shared_expert_gate:
            n += moe_layers * spec.hidden_size
        if spec.mla is not None:
            m = spec.mla
            n += layers * (norm_params(spec, m.kv_lora_rank)
                           + (norm_params(spec, m.q_lora_rank) if m.q_lora_rank else 0))
        if last:
            n += norm_params(spec, spec.hidden_size)
    if spec.qk_norm == "head" and spec.mla is None:
        n += layers * 2 * norm_params(spec, spec.head_dim)
    return n


def kv_width(spec) -> int:
    """Elements of K plus V per token in one attention layer, as the attention kernel receives
    them (what context-parallel ring attention passes between ranks): ``2·g·d`` (GQA/MQA/MHA);
    MLA decompressed per head, ``a·(qk_nope + qk_rope) + a·v_head`` (Megatron's MLA hands
    per-head K and V to Transformer Engine's attention)."""
    if spec.mla is not None:
        m = spec.mla
        return spec.num_attention_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim
                                           + m.v_head_dim)
    return 2 * spec.num_key_value_heads * spec.head_dim


def pipeline_sends(pp: int, stage: int, m: int, schedule: str, chunks: int) -> tuple[int, int]:
    """(forward activation sends, backward gradient sends) of pipeline rank ``stage`` per step.

    1F1B (Narayanan et al. 2021, arXiv 2104.04473 §2.2.1; Megatron ``schedules.py``
    ``forward_backward_pipelining_without_interleaving``): every stage but the last sends each of
    the ``m`` micro-batches' activations on, every stage but the first sends each gradient back.
    Interleaved (§2.2.2, ``chunks`` = v model chunks per rank): a micro-batch crosses ``p·v − 1``
    boundaries; rank ``r`` sends forward from each chunk but the model's last (on rank p−1) and
    backward from each chunk but the first (on rank 0). DualPipe (DeepSeek-V3 report §3.2.1,
    github.com/deepseek-ai/DualPipe): rank ``r`` holds stages ``r`` and ``p−1−r`` and half the
    micro-batches enter from each end, so an end rank sends ``m/2`` each way and the others ``m``.
    """
    if pp == 1:
        return 0, 0
    if schedule == "interleaved":
        fwd = m * (chunks - (1 if stage == pp - 1 else 0))
        bwd = m * (chunks - (1 if stage == 0 else 0))
        return fwd, bwd
    if schedule == "dualpipe":
        end = stage in (0, pp - 1)
        half = m // 2
        return (half, half) if end else (m, m)
    return (m if stage < pp - 1 else 0), (m if stage > 0 else 0)


def training_step_volumes(model, opts, stage: int = 0,
                          sequence_parallel: bool | None = None,
                          ep_routing: Sequence[tuple[Sequence[int], Sequence[int]]] | None = None
                          ) -> tuple[Volume, ...]:
    """The collectives one rank of pipeline stage ``stage`` runs in one optimizer step
    (``grad_accum`` micro-batches of ``micro_batch`` sequences), under the layout of ``opts``
    (tp, pp, ep, etp, cp, dp = num_gpus/(tp·pp·cp), zero, dtype, recompute, pp_schedule,
    virtual_stages, moe_dispatch_dtype, capacity_factor). Groups of one rank are left out.

    ``sequence_parallel``: None = the memory model's rule (on whenever tp > 1,
    :attr:`estimator.training.ParallelPlan.sequence_parallel`); False = Megatron's plain TP.

    * **Data parallel** (kind ``dp_grad``; experts ``expert_dp_grad`` over the expert-data-
      parallel group ``edp``): ZeRO 0 = DDP, one all-reduce of the rank's gradients per step
      (PyTorch DDP / Megatron DDP reduce once, after the last micro-batch, in buckets of
      25 MiB / ≥40M elements; the buckets add up to the gradient, counted here as one call).
      ZeRO-1 (Megatron's distributed optimizer; ZeRO paper, arXiv 1910.02054 §5.1 / §7.1.1):
      a reduce-scatter of the gradients once per step, then an all-gather of the updated 16-bit
      weights (``zero_param_gather``). ZeRO-2 (DeepSpeed stage 2: gradients are partitioned as
      they are produced, so every micro-batch's backward reduce-scatters them): ``grad_accum``
      reduce-scatters, one all-gather. ZeRO-3 / FSDP (Zhao et al. 2023, arXiv 2304.11277 §3.2,
      ``FULL_SHARD``; PyTorch FSDP2 ``fully_shard`` on each layer and on the model): per
      micro-batch each layer unit is all-gathered in the forward and again in the backward, and
      its gradient reduce-scattered. The root unit (what no layer unit holds: embedding, final
      norm, head) is gathered once per micro-batch: FSDP2 ``FSDPState._lazy_init`` ("For the
      root, do not reshard after forward since for training, the parameters would be freed and
      all-gathered immediately"), FSDP1 ``_post_forward_reshard`` (``not state._is_root``);
      it is resharded after the backward and its gradient reduce-scattered per micro-batch.
      One Volume per unit shape. Gradient bytes: :func:`grad_reduce_bytes`.
    * **Tensor parallel** (``tp``/``sp``, group tp): :data:`TP_CALLS_PER_SUBBLOCK` on the
      ``b·s/cp·h`` activation (the full sequence: an all-gather's output, a reduce-scatter's
      input), for attention and for each dense or shared-expert MLP; the embedding's output is
      all-reduced (reduce-scattered with SP; backward: identity / all-gather); the LM head is a
      column-parallel linear; ``tp_loss``: :data:`VOCAB_PARALLEL_CE_ALL_REDUCES`. Once per step
      the gradients of the replicated weights that saw only the rank's sequence shard (norms,
      router) are all-reduced over TP in one flat buffer (phase ``step``,
      :func:`tp_replicated_grad_params`). MLA gathers
      its compressed latent (``q_lora_rank + kv_lora_rank + qk_rope``) instead of ``h``
      (Megatron ``multi_latent_attention.py``: down-projections on the sequence shard, then
      ``gather_from_sequence_parallel_region``), and its backward needs no second gather.
    * **Expert parallel** (``ep_dispatch``/``ep_probs``/``ep_combine``, group ep; Megatron
      ``MoEAlltoAllTokenDispatcher``, DeepEP ``dispatch``/``combine``): per MoE layer and
      micro-batch the rank's ``T·k`` routed token copies (``T = b·s/(cp·tp)``, its sequence
      shard) go out in one all-to-all with their router probabilities in another (activation
      dtype: ``topk_softmax_with_capacity`` returns ``probs.type_as(logits)``) and come back in
      a third; the backward runs them again on the gradients
      (:func:`ep_all_to_all_payloads`). Rows of :func:`dispatch_row_bytes`; with a capacity
      factor the buffer is padded to ``E·⌈T·k·CF/E⌉`` rows (``moe_utils.get_capacity``).
      Before the dispatch the ``E`` int64 token counts are all-gathered over the ``etp·ep``
      group (:data:`TOKEN_COUNT_BYTES`; not with a capacity factor). With etp > 1 the received
      tokens and probabilities are all-gathered over the expert-TP group (``etp``) and the
      outputs reduce-scattered back (``dispatch_postprocess`` / ``combine_preprocess``:
      ``gather_from_sequence_parallel_region`` / ``reduce_scatter_to_sequence_parallel_region``
      over ``tp_group``); their backward swaps the two. ``ep_routing``: one ``(sent,
      received)`` pair of per-EP-rank copy counts per MoE layer pass of this rank (layer order,
      micro-batch by micro-batch) instead of uniform routing (the distributed validation's
      measured routing; etp = 1 only).
    * **Pipeline** (``pp``): :func:`pipeline_sends` sends of the ``b·s/(cp·tp)·h`` activation
      (Megatron ``get_tensor_shapes``: the sequence divided by tp with SP and by cp). Tied
      embeddings with pp > 1: one all-reduce of the embedding gradient between the first and the
      last stage per step (``_allreduce_word_embedding_grads``; kind ``embedding_grad``).
    * **Context parallel** (``cp``, ring attention, Transformer Engine
      ``AttnFuncWithCPAndKVP2P``): per attention layer and micro-batch the forward passes the
      local K/V chunk ``cp − 1`` times round the ring; the backward passes K/V and their
      gradients ``cp − 1`` times each.
    * ``recompute='full'`` repeats every forward collective of the layers during the backward
      (phase ``recompute``; Megatron recomputes the whole layer, its communication included).

    DualPipe: each rank also holds stage ``p−1−stage`` (two copies of the parameters, report
    §3.2.1), so its data-parallel gradients cover both; how the two copies' gradients meet is
    not published and is not counted.
    """
    from .memory import activation_bytes
    from .training import _layer_params, parallel_plan, stage_layer_range, training_weight_bytes

    spec = model.spec if hasattr(model, "spec") else model
    plan = parallel_plan(spec, opts)
    pp = plan.pp
    if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < pp:
        raise EstimatorError("stage", stage, f"must be a pipeline stage 0..{pp - 1}")
    schedule = opts.pp_schedule
    if schedule == "dualpipe" and pp > 1 and (pp % 2 or opts.grad_accum % 2):
        raise EstimatorError("pp_schedule", schedule, "DualPipe needs an even pp and an even "
                             f"grad_accum (got pp={pp}, grad_accum={opts.grad_accum})")
    tp, cp, ep, etp = plan.tp, plan.cp, plan.ep, plan.etp
    sp = plan.sequence_parallel if sequence_parallel is None else (sequence_parallel and tp > 1)
    m, b, h = opts.grad_accum, opts.micro_batch, spec.hidden_size
    e = activation_bytes(opts.dtype)
    s_cp = -(-opts.seq_len // cp)
    T = b * s_cp  # tokens of one micro-batch on this rank's TP group
    act = T * h * e  # the b·s·h activation TP collectives carry
    fwd_passes = 2 if opts.recompute == "full" else 1  # layer forwards per micro-batch

    lp = _layer_params(spec, plan)
    stages = [stage]
    if schedule == "dualpipe" and pp > 1 and pp - 1 - stage != stage:
        stages.append(pp - 1 - stage)
    if schedule == "interleaved" and pp > 1:
        # v chunks: the rank holds every v-th slice of L/(p·v) layers (Megatron's model chunks)
        stages = [stage + pp * c for c in range(opts.virtual_stages)]
        L_parts = pp * opts.virtual_stages
    else:
        L_parts = pp
    # Each chunk the rank holds runs m micro-batches (1F1B, interleaved); under DualPipe each of
    # its two stages runs the m/2 micro-batches of one direction. Counted as layer × micro-batch
    # passes: md (dense layers), mm (MoE layers), mf / ml (micro-batches through the embedding /
    # the head).
    per_chunk = m // len(stages) if schedule == "dualpipe" else m
    moe = sorted(spec.moe_layers)
    n_dense = n_moe = md = mm = mf = ml = 0
    first = last = False
    for st in stages:
        start, end = stage_layer_range(spec.num_hidden_layers, L_parts, st)
        k_moe = bisect.bisect_left(moe, end) - bisect.bisect_left(moe, start)
        n_moe += k_moe
        n_dense += end - start - k_moe
        mm += k_moe * per_chunk
        md += (end - start - k_moe) * per_chunk
        if st == 0:
            first, mf = True, per_chunk
        if st == L_parts - 1:
            last, ml = True, per_chunk
    ml_all = md + mm

    out: list[Volume] = []

    def add(kind, op, ranks, payload, calls, phase, src):
        if calls and payload and (ranks > 1 or op == SEND_RECV):
            out.append(Volume(kind, op, ranks, int(payload), int(calls), phase, stage, src))

    # --- tensor (and sequence) parallel ----------------------------------------------------
    if tp > 1:
        kind = "sp" if sp else "tp"
        src = ("Megatron tensor_parallel mappings.py/layers.py (Korthikanti 2022 §4.2.2)" if sp
               else "Megatron tensor_parallel mappings.py f/g (Shoeybi 2019 §3)")
        shared = spec.num_shared_experts > 0 or spec.shared_expert_intermediate_size > 0
        mlp_blocks = md * (1 if spec.intermediate_size else 0) + (mm if shared else 0)
        if spec.mla is not None and sp:
            # MLA: forward AG(latent) + RS(h); backward RS(latent grads) + AG(h grads)
            mla = spec.mla
            lat = T * ((mla.q_lora_rank or h) + mla.kv_lora_rank + mla.qk_rope_head_dim) * e
            for phase, passes in ((FORWARD, 1), (RECOMPUTE, fwd_passes - 1)):
                add(kind, ALL_GATHER, tp, lat, passes * ml_all, phase, src + "; MLA latent")
                add(kind, REDUCE_SCATTER, tp, act, passes * ml_all, phase, src)
            add(kind, REDUCE_SCATTER, tp, lat, ml_all, BACKWARD, src + "; MLA latent")
            add(kind, ALL_GATHER, tp, act, ml_all, BACKWARD, src)
            subblocks = mlp_blocks
        else:
            subblocks = ml_all + mlp_blocks
        for (is_sp, phase), ops in TP_CALLS_PER_SUBBLOCK.items():
            if is_sp != sp:
                continue
            for op, per in ops.items():
                if phase == FORWARD:
                    add(kind, op, tp, act, per * subblocks, FORWARD, src)
                    add(kind, op, tp, act, per * subblocks * (fwd_passes - 1), RECOMPUTE,
                        src)
                else:
                    add(kind, op, tp, act, per * subblocks, BACKWARD, src)
        if first:  # VocabParallelEmbedding: output all-reduced (SP: reduce-scattered)
            add(kind, REDUCE_SCATTER if sp else ALL_REDUCE, tp, act, mf, FORWARD,
                "Megatron VocabParallelEmbedding + reduce_scatter_to_sequence_parallel_region"
                if sp else "Megatron VocabParallelEmbedding: reduce_from_tensor_model_parallel")
            if sp:
                add(kind, ALL_GATHER, tp, act, mf, BACKWARD, "backward of the reduce-scatter")
        if last:  # column-parallel LM head, then the vocab-parallel cross-entropy
            for op, phase, calls in (((ALL_GATHER, FORWARD, 1), (ALL_GATHER, BACKWARD, 1),
                                      (REDUCE_SCATTER, BACKWARD, 1)) if sp else
                                     ((ALL_REDUCE, BACKWARD, 1),)):
                add(kind, op, tp, act, calls * ml, phase, "Megatron output_layer "
                    "(ColumnParallelLinear)")
            add("tp_loss", ALL_REDUCE, tp, T * CE_REDUCE_BYTES, VOCAB_PARALLEL_CE_ALL_REDUCES * ml,
                FORWARD, "Megatron _VocabParallelCrossEntropy.forward: 3 all-reduces")
        add(kind, ALL_REDUCE, tp,
            tp_replicated_grad_params(spec, n_dense + n_moe, n_moe, last, sp)
            * grad_reduce_bytes(opts), 1, STEP,
            "Megatron finalize_model_grads._allreduce_non_tensor_model_parallel_grads: norms "
            "and router, one flat all-reduce")

    # --- expert parallel ---------------------------------------------------------------------
    if n_moe and (ep > 1 or etp > 1):
        k, E = spec.num_experts_per_tok, spec.num_experts
        T_moe = T // tp if sp else T
        rows = T_moe * k
        padded = opts.capacity_factor > 0
        if padded:
            rows = E * math.ceil(T_moe * k * opts.capacity_factor / E)
        disp_row = dispatch_row_bytes(h, e, opts.moe_dispatch_dtype)
        src = ("Megatron MoEAlltoAllTokenDispatcher; DeepEP dispatch/combine"
               + ("; fp8 dispatch (DeepEP README, DeepSeek-V3 §3.3.2)"
                  if opts.moe_dispatch_dtype == "fp8" else ""))
        per = mm
        if not padded:  # preprocess: the E token counts gathered over etp·ep ranks
            counts = etp * ep * E * TOKEN_COUNT_BYTES
            csrc = "Megatron MoEAlltoAllTokenDispatcher.preprocess: token counts all-gathered"
            add("ep_dispatch", ALL_GATHER, etp * ep, counts, per, FORWARD, csrc)
            add("ep_dispatch", ALL_GATHER, etp * ep, counts, per * (fwd_passes - 1), RECOMPUTE,
                csrc)
        if ep_routing is not None:
            if etp > 1 or len(ep_routing) != per:
                raise EstimatorError("ep_routing", len(ep_routing), f"needs one (sent, "
                                     f"received) pair per MoE layer pass ({per}) and etp = 1")
            passes = Counter(tuple(ep_all_to_all_payloads(snt, rcv, disp_row, h * e, e)
                                   .items()) for snt, rcv in ep_routing)
            src += " (measured routing)"
        else:  # every pass alike: one formula, ``per`` calls
            even = balanced_split(rows, ep)
            passes = {tuple(ep_all_to_all_payloads(even, even, disp_row, h * e, e).items()): per}
        if ep > 1:
            for p, n in sorted(passes.items()):
                for (kind, phase), b_ in p:
                    s_ = src + (" (gradients)" if phase == BACKWARD else "")
                    add(kind, ALL_TO_ALL, ep, b_, n, phase, s_)
                    if phase == FORWARD:
                        add(kind, ALL_TO_ALL, ep, b_, n * (fwd_passes - 1), RECOMPUTE, s_)
        if etp > 1:  # received rows (and probs) gathered over expert-TP, reduce-scattered back
            g, gp = etp * rows * h * e, etp * rows * e
            src = ("Megatron MoEAlltoAllTokenDispatcher dispatch_postprocess / combine_"
                   "preprocess: all-gather-v / reduce-scatter-v over ETP")
            for op, b_, phase in ((ALL_GATHER, g, FORWARD), (ALL_GATHER, gp, FORWARD),
                                  (REDUCE_SCATTER, g, FORWARD), (REDUCE_SCATTER, g, BACKWARD),
                                  (REDUCE_SCATTER, gp, BACKWARD), (ALL_GATHER, g, BACKWARD)):
                add("etp", op, etp, b_, per, phase, src)
                if phase == FORWARD:
                    add("etp", op, etp, b_, per * (fwd_passes - 1), RECOMPUTE, src)

    # --- context parallel: ring attention ----------------------------------------------------
    if cp > 1:
        kv = b * s_cp * (kv_width(spec) // tp) * e
        src = "Transformer Engine AttnFuncWithCPAndKVP2P (ring attention)"
        add("cp", SEND_RECV, cp, kv, (cp - 1) * ml_all, FORWARD, src + ": K/V")
        add("cp", SEND_RECV, cp, kv, (cp - 1) * ml_all * (fwd_passes - 1), RECOMPUTE,
            src + ": K/V")
        add("cp", SEND_RECV, cp, kv, 2 * (cp - 1) * ml_all, BACKWARD,
            src + ": K/V and dK/dV")

    # --- pipeline ----------------------------------------------------------------------------
    if pp > 1:
        msg = b * s_cp * h * e // (tp if sp else 1)
        fwd, bwd = pipeline_sends(pp, stage, m, schedule, opts.virtual_stages)
        src = "Megatron schedules.py p2p_communication (get_tensor_shapes)"
        add("pp", SEND_RECV, 2, msg, fwd, FORWARD, src + ": activations")
        add("pp", SEND_RECV, 2, msg, bwd, BACKWARD, src + ": gradients")
        if spec.tie_word_embeddings and (first or last):
            add("embedding_grad", ALL_REDUCE, 2, lp.embedding * grad_reduce_bytes(opts), 1, STEP,
                "Megatron finalize_model_grads: _allreduce_word_embedding_grads")

    # --- data parallel / ZeRO ----------------------------------------------------------------
    ne = n_dense * lp.dense + n_moe * lp.moe_non_expert
    ne += (lp.embedding if first else 0) + (lp.head + lp.final_norm if last else 0)
    ex = n_moe * lp.moe_expert
    gb, wb = grad_reduce_bytes(opts), training_weight_bytes(opts.dtype)
    z = plan.zero
    for kind, n, group, in (("dp_grad", ne, plan.dp_shard), ("expert_dp_grad", ex, plan.edp)):
        if not n or group == 1:
            continue
        gather = "zero_param_gather" if kind == "dp_grad" else "expert_zero_param_gather"
        if z == 0:
            add(kind, ALL_REDUCE, group, n * gb, 1, BACKWARD,
                "PyTorch DDP / Megatron DDP: bucketed all-reduce after the last micro-batch")
        elif z in (1, 2):
            add(kind, REDUCE_SCATTER, group, n * gb, 1 if z == 1 else m, BACKWARD,
                "Megatron distributed optimizer (once per step)" if z == 1 else
                "DeepSpeed ZeRO-2: reduce-scatter every micro-batch")
            add(gather, ALL_GATHER, group, n * wb, 1, STEP,
                "ZeRO-1/2: updated 16-bit weights all-gathered after the optimizer step")
        else:
            units = []  # (params, unit × micro-batch passes, gathered again in backward)
            if kind == "dp_grad":
                root = (lp.embedding if first else 0) + (lp.head + lp.final_norm if last else 0)
                units = [(lp.dense, md, True), (lp.moe_non_expert, mm, True),
                         (root, mf if first else ml, False)]
            else:
                units = [(lp.moe_expert, mm, True)]
            src = "PyTorch FSDP FULL_SHARD (Zhao et al. 2023 §3.2) / FSDP2 fully_shard: per unit"
            for unit, count, again in units:
                s_ = src + ("" if again else "; root unit not resharded after forward")
                add(gather, ALL_GATHER, group, unit * wb, count, FORWARD, s_)
                add(gather, ALL_GATHER, group, unit * wb, count if again else 0, BACKWARD, s_)
                add(kind, REDUCE_SCATTER, group, unit * gb, count, BACKWARD, s_)
    return tuple(out)

"""Training-step communication volumes (estimator.comm.training_step_volumes) against hand
counts: each expected list below is written from the framework's code, call by call (Megatron-
LM's tensor-parallel mappings and linear layers, its schedules and MoE token dispatcher, PyTorch
DDP/FSDP, DeepSpeed ZeRO, Transformer Engine's ring attention), with the model's shapes, not
from the estimator's formula."""

from __future__ import annotations

from collections import Counter

import pytest

import estimator
from estimator import comm
from estimator.errors import EstimatorError
from estimator.params import count_params

# A small Llama: h=64, 4 layers, 4 heads of 16 (MHA), SwiGLU width 256, vocabulary 1000.
TINY = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 256,
        "vocab_size": 1000, "tie_word_embeddings": False}
H, V, F, L = 64, 1000, 256, 4
LAYER_PARAMS = 4 * H * H + 3 * H * F + 2 * H  # q,k,v,o + gate,up,down + two RMSNorm weights
TINY_PARAMS = L * LAYER_PARAMS + V * H + V * H + H  # + embedding + lm_head + final norm


def _vols(model, stage=0, sp=None, **kw):
    m = estimator.load_model(model)
    return comm.training_step_volumes(m, estimator.make_options(**kw), stage=stage,
                                      sequence_parallel=sp)


def _tally(vols, kinds=None):
    """(op, phase, payload) → calls, over the kinds given."""
    c = Counter()
    for v in vols:
        if kinds is None or v.kind in kinds:
            c[(v.op, v.phase, v.payload_bytes)] += v.calls
    return c


def test_tiny_model_has_the_hand_counted_parameters():
    assert TINY_PARAMS == 390_720 == count_params(estimator.load_model(TINY).spec).total


def test_ddp_all_reduces_every_gradient_once_per_step():
    # PyTorch DDP: no_sync() during accumulation, then the buckets of the last backward add up
    # to every parameter's gradient: 390,720 bf16 values, all-reduced over the 4 replicas.
    vols = _vols(TINY, num_gpus=4, grad_accum=8)
    assert [(v.kind, v.op, v.ranks, v.payload_bytes, v.calls) for v in vols] == [
        ("dp_grad", "all_reduce", 4, 390_720 * 2, 1)]
    assert vols[0].sent_bytes == 2 * 3 * 390_720 * 2 / 4  # ring: 2(n-1)/n of the buffer
    # Megatron with fp32 main_grad (adam_bytes=18, grad_reduce_in_fp32): 4 bytes per value
    assert _vols(TINY, num_gpus=4, adam_bytes=18)[0].payload_bytes == 390_720 * 4


def test_zero_stages_hand_count():
    g = 390_720 * 2
    z1 = _tally(_vols(TINY, num_gpus=4, grad_accum=3, zero=1))
    # Megatron distributed optimizer: one reduce-scatter of the grad buffer, one all-gather
    # of the updated bf16 params, per step
    assert z1 == {("reduce_scatter", "backward", g): 1, ("all_gather", "step", g): 1}
    z2 = _tally(_vols(TINY, num_gpus=4, grad_accum=3, zero=2))
    # DeepSpeed stage 2 reduces (scatters) each micro-batch's gradients as they are produced
    assert z2 == {("reduce_scatter", "backward", g): 3, ("all_gather", "step", g): 1}
    z3 = _tally(_vols(TINY, num_gpus=4, grad_accum=3, zero=3))
    # FSDP2, fully_shard on each of the 4 layers and on the model: a layer unit is all-gathered
    # in the forward, again in the backward (reshard_after_forward=True), its gradient
    # reduce-scattered, every micro-batch. The root unit (embedding + final norm + lm_head)
    # is not resharded after the forward (FSDPState._lazy_init: "For the root, do not reshard
    # after forward"): one all-gather per micro-batch, resharded after the backward, its
    # gradient reduce-scattered per micro-batch.
    layer, root = LAYER_PARAMS * 2, (V * H + V * H + H) * 2
    assert z3 == {("all_gather", "forward", layer): 4 * 3, ("all_gather", "backward", layer): 12,
                  ("reduce_scatter", "backward", layer): 12,
                  ("all_gather", "forward", root): 3, ("reduce_scatter", "backward", root): 3}
    # pipeline stages: the first stage's root is the embedding, the last's the head + norm
    s0 = _tally(_vols(TINY, stage=0, pp=2, num_gpus=8, zero=3), {"zero_param_gather"})
    s1 = _tally(_vols(TINY, stage=1, pp=2, num_gpus=8, zero=3), {"zero_param_gather"})
    assert s0[("all_gather", "forward", V * H * 2)] == 1
    assert s1[("all_gather", "forward", (V * H + H) * 2)] == 1


def test_megatron_tensor_parallel_f_and_g_hand_count():
    # tp=2 without sequence parallelism, micro-batch 2 × 8 tokens: the activation is
    # 2·8·64 bf16 = 2048 bytes. Per micro-batch (Megatron mappings.py, Shoeybi 2019 Fig. 3):
    #   forward: embedding all-reduce (reduce_from_tensor_model_parallel_region) 1
    #            + per layer g after attention's o_proj and after the MLP's down_proj: 2 × 4
    #   backward: per layer f before QKV and before gate/up: 2 × 4
    #            + the lm_head's copy_to_tensor_model_parallel_region: 1
    #   loss: 3 fp32 all-reduces of the 16 tokens (max, target logit, sum exp) = 64 bytes
    t = _tally(_vols(TINY, sp=False, tp=2, num_gpus=2, micro_batch=2, seq_len=8, grad_accum=3))
    assert t == {("all_reduce", "forward", 2048): 9 * 3, ("all_reduce", "backward", 2048): 9 * 3,
                 ("all_reduce", "forward", 64): 3 * 3}


def test_megatron_sequence_parallel_hand_count():
    # tp=2 with sequence parallelism (Korthikanti 2022 Fig. 5; Megatron layers.py): per
    # micro-batch
    #   forward : embedding reduce-scatter 1; per layer all-gather before QKV and before
    #             gate/up, reduce-scatter after o_proj and after down_proj (2 + 2) × 4;
    #             lm_head all-gather of the final norm's output 1
    #   backward: per layer the all-gathers' backward is a reduce-scatter (2) and the
    #             reduce-scatters' an all-gather (2), and both column-parallel linears
    #             all-gather their input again for the weight gradient (2): 4 AG + 2 RS per
    #             layer; embedding's reduce-scatter backward = all-gather 1; lm_head: the
    #             all-gather's backward reduce-scatter 1 + its weight-gradient all-gather 1
    #   step    : finalize_model_grads._allreduce_non_tensor_model_parallel_grads: the
    #             replicated norms saw only the rank's sequence shard, their gradients (two
    #             RMSNorm weights per layer + the final norm: 9 × 64 bf16) are flattened into
    #             one buffer and all-reduced once per step
    t = _tally(_vols(TINY, tp=2, num_gpus=2, micro_batch=2, seq_len=8, grad_accum=3))
    assert t == {("all_gather", "forward", 2048): 3 * (8 + 1),
                 ("reduce_scatter", "forward", 2048): 3 * (8 + 1),
                 ("all_gather", "backward", 2048): 3 * (16 + 1 + 1),
                 ("reduce_scatter", "backward", 2048): 3 * (8 + 1),
                 ("all_reduce", "forward", 64): 3 * 3, ("all_reduce", "step", 9 * 64 * 2): 1}
    # without sequence parallelism every rank saw every token: no norm all-reduce
    plain = _tally(_vols(TINY, sp=False, tp=2, num_gpus=2, micro_batch=2, seq_len=8))
    assert not [k for k in plain if k[1] == "step"]


# A small Mixtral: h=64, 2 MoE layers, 4 heads (2 KV), 4 experts of width 128, top-2.
TINY_MOE = {"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
            "num_local_experts": 4, "num_experts_per_tok": 2, "vocab_size": 1000,
            "tie_word_embeddings": False}


def test_moe_under_tensor_and_sequence_parallel_hand_count():
    # tp=2 (expert-TP 2, ep 1), micro-batch 2 × 8 = 16 tokens, bf16: each rank routes its 8
    # sequence-parallel tokens to 2 experts = 16 copies. Megatron MoEAlltoAllTokenDispatcher
    # per MoE layer and micro-batch:
    #   preprocess: all-gather of the 4 int64 counts over tp×ep = 2 ranks: 2·4·8 = 64 bytes
    #   dispatch_postprocess: all-gather of the copies, 2·16·64·2 = 4096, and of their
    #     probabilities, 2·16·2 = 64 (backward: reduce-scatter of both)
    #   combine_preprocess: reduce-scatter of the outputs, 4096 (backward: all-gather)
    # The MoE layer needs no other sequence-parallel gather: attention's AG/RS as for TINY
    # (2048-byte activation), plus embedding and head. The step all-reduces the norms (2 per
    # layer + final: 5 × 64) and the routers (2 × 4 × 64) once: 832 bf16 values.
    t = _tally(_vols(TINY_MOE, tp=2, num_gpus=2, micro_batch=2, seq_len=8))
    assert t == {("all_gather", "forward", 2048): 2 + 1, ("reduce_scatter", "forward", 2048): 2 + 1,
                 ("all_gather", "backward", 2048): 2 * 2 + 1 + 1,
                 ("reduce_scatter", "backward", 2048): 2 + 1,
                 ("all_reduce", "forward", 64): 3,
                 ("all_gather", "forward", 64): 2 + 2, ("all_gather", "forward", 4096): 2,
                 ("reduce_scatter", "forward", 4096): 2,
                 ("reduce_scatter", "backward", 4096): 2, ("reduce_scatter", "backward", 64): 2,
                 ("all_gather", "backward", 4096): 2,
                 ("all_reduce", "step", (5 * 64 + 2 * 4 * 64) * 2): 1}


def test_expert_parallel_all_to_all_with_measured_routing_hand_count():
    # ep=2, 16 tokens, top-2: 32 copies per MoE layer. Suppose in layer 0 this rank sends 20
    # copies to rank 0 (itself) and 12 to rank 1, and receives 20 from itself and 17 from rank
    # 1; in layer 1 it sends 16 / 16 and receives 16 / 9. Row 64 bf16 = 128 bytes, prob 2.
    # Megatron dispatch_all_to_all: tokens Σsent·128 and probs Σsent·2; combine_all_to_all:
    # Σreceived·128; backward: combine grad Σsent·128, dispatch grad Σreceived·128 + Σreceived·2.
    routing = [([20, 12], [20, 17]), ([16, 16], [16, 9])]
    kw = dict(ep=2, num_gpus=2, micro_batch=2, seq_len=8)
    vols = _vols(TINY_MOE, **kw)
    m = estimator.load_model(TINY_MOE)
    routed = comm.training_step_volumes(m, estimator.make_options(**kw), ep_routing=routing)
    a2a = sum(v.total_payload_bytes for v in routed if v.op == "all_to_all")
    assert a2a == (32 * 128 + 32 * 2 + 37 * 128 + 32 * 128 + 37 * 128 + 37 * 2
                   + 32 * 128 + 32 * 2 + 25 * 128 + 32 * 128 + 25 * 128 + 25 * 2)
    # uniform routing is the same formula with 16 / 16 each way
    assert comm.balanced_split(32, 2) == (16, 16) and comm.balanced_split(7, 3) == (3, 2, 2)
    a2a_even = sum(v.total_payload_bytes for v in vols if v.op == "all_to_all")
    assert a2a_even == 2 * (4 * 32 * 128 + 2 * 32 * 2)
    # the counts all-gather over ep: 2 ranks × 4 int64 per layer, forward only
    assert _tally(vols, {"ep_dispatch"})[("all_gather", "forward", 64)] == 2
    with pytest.raises(EstimatorError, match="ep_routing"):
        comm.training_step_volumes(m, estimator.make_options(**kw), ep_routing=routing[:1])


def test_full_recompute_repeats_the_layers_forward_collectives():
    base = _tally(_vols(TINY, sp=False, tp=2, num_gpus=2, seq_len=8))
    full = _tally(_vols(TINY, sp=False, tp=2, num_gpus=2, seq_len=8, recompute="full"))
    # the 8 layer all-reduces run again inside the backward; the embedding's does not
    assert full[("all_reduce", "recompute", 1024)] == 8
    assert {k: v for k, v in full.items() if k[1] != "recompute"} == base


def test_mixtral_expert_parallel_all_to_all_hand_count():
    # Mixtral-8x7B, ep=8 on 8 GPUs, one 4096-token sequence: each of the 32 MoE layers sends
    # the 4096 × top-2 token copies of h=4096 bf16 = 4096·2·4096·2 = 67,108,864 bytes in the
    # dispatch all-to-all and receives as many back in the combine; the backward runs both on
    # the gradients (Megatron MoEAlltoAllTokenDispatcher). 7/8 of each leaves the rank.
    # Their router probabilities (bf16, probs.type_as(logits)) travel beside them in a
    # second dispatch all-to-all, 8192 × 2 = 16,384 bytes, and their gradients come back; the
    # 8 int64 token counts are all-gathered over the 8 EP ranks first (512 bytes, forward).
    vols = _vols("mixtral-8x7b", ep=8, num_gpus=8, seq_len=4096)
    t = _tally(vols, {"ep_dispatch", "ep_combine"})
    assert t == {("all_to_all", "forward", 67_108_864): 64,
                 ("all_to_all", "backward", 67_108_864): 64,
                 ("all_gather", "forward", 8 * 8 * 8): 32}
    assert _tally(vols, {"ep_probs"}) == {("all_to_all", "forward", 16_384): 32,
                                          ("all_to_all", "backward", 16_384): 32}
    a2a = sum(v.sent_bytes for v in vols if v.op == "all_to_all")
    assert a2a == (128 * 67_108_864 + 64 * 16_384) * 7 // 8
    # experts are split by EP over all 8 GPUs (edp = 1): only non-expert gradients all-reduce
    assert {v.kind for v in vols} == {"ep_dispatch", "ep_probs", "ep_combine", "dp_grad"}


def test_mixtral_capacity_factor_pads_the_dispatch():
    # Megatron get_capacity: ceil(T·k/E·CF) = ceil(4096·2/8·1.25) = 1280 slots per expert,
    # 8 experts' buffers padded: 10,240 rows of 8192 bytes
    vols = _vols("mixtral-8x7b", ep=8, num_gpus=8, seq_len=4096, capacity_factor=1.25)
    assert {v.payload_bytes for v in vols if v.kind == "ep_dispatch"} == {10_240 * 8192}


def test_deepseek_v3_layout_fp8_dispatch_hand_count():
    # DeepSeek-V3 report §3.2: 2048 H800, PP16, EP64 over 8 nodes, ZeRO-1, DualPipe; FP8
    # dispatch (§3.3.2: 1×128 tiles, one fp32 scale each) and BF16 combine (DeepEP README).
    # One 4096-token sequence per micro-batch. Stage 1 holds layers 4..7 of 61 (the first 13
    # stages take 4 layers): all MoE. Row bytes: dispatch 7168 + 4·7168/128 = 7392; combine
    # 7168·2 = 14336; 4096 tokens × 8 experts = 32,768 rows.
    kw = dict(pp=16, ep=64, num_gpus=2048, zero=1, seq_len=4096, grad_accum=2,
              moe_dispatch_dtype="fp8")
    # The 256 int64 expert counts are all-gathered over the 64 EP ranks (131,072 bytes).
    t = _tally(_vols("deepseek-v3", stage=1, **kw), {"ep_dispatch", "ep_combine"})
    assert t == {("all_to_all", "forward", 32_768 * 7392): 4 * 2,
                 ("all_to_all", "forward", 32_768 * 14336): 4 * 2,
                 ("all_to_all", "backward", 32_768 * 14336): 2 * 4 * 2,
                 ("all_gather", "forward", 64 * 256 * 8): 4 * 2}
    # stage 0 (layers 0..3; 0-2 dense): one MoE layer
    t0 = _tally(_vols("deepseek-v3", stage=0, **kw), {"ep_dispatch"})
    assert sum(n for (op, _, _), n in t0.items() if op == "all_to_all") == 2 * 2
    # pipeline: stage 1 sends 2 activations on and 2 gradients back, 4096·7168 bf16 each
    pp = _tally(_vols("deepseek-v3", stage=1, **kw), {"pp"})
    assert pp == {("send_recv", "forward", 4096 * 7168 * 2): 2,
                  ("send_recv", "backward", 4096 * 7168 * 2): 2}


def test_dualpipe_rank_holds_two_stages_each_running_half_the_micro_batches():
    # DualPipe (DeepSeek-V3 §3.2.1; DualPipe README: 2x parameters per device): rank 0 holds
    # stage 0 (layers 0..3, one MoE) and stage 15 (layers 58..60, three MoE); with 4
    # micro-batches, 2 enter from each end, so each stage runs 2 of them: 2·1 + 2·3 = 8 MoE
    # layer passes, each one dispatch forward. An end rank sends 2 activations and 2 gradients.
    kw = dict(pp=16, ep=64, num_gpus=2048, zero=1, seq_len=4096, grad_accum=4,
              pp_schedule="dualpipe")
    vols = _vols("deepseek-v3", stage=0, **kw)
    assert sum(v.calls for v in vols if v.kind == "ep_dispatch" and v.phase == "forward"
               and v.op == "all_to_all") == 8
    assert _tally(vols, {"pp"}) == {("send_recv", "forward", 4096 * 7168 * 2): 2,
                                    ("send_recv", "backward", 4096 * 7168 * 2): 2}
    # an interior rank (stage 1 and stage 14, 4 + 3 MoE layers) sends 4 each way
    mid = _tally(_vols("deepseek-v3", stage=1, **kw), {"pp"})
    assert set(mid.values()) == {4}


def test_pipeline_sends_1f1b_and_interleaved():
    msg = 8 * 64 * 2  # one 8-token sequence of h=64 in bf16
    one = lambda st, **kw: _tally(_vols(TINY, stage=st, pp=2, num_gpus=2, seq_len=8,  # noqa
                                        grad_accum=4, **kw), {"pp"})
    assert one(0) == {("send_recv", "forward", msg): 4}
    assert one(1) == {("send_recv", "backward", msg): 4}
    # interleaved, 2 chunks of one layer: rank 0 holds layers 0 and 2, rank 1 layers 1 and 3.
    # Rank 0 sends forward from layer 0 (→1) and layer 2 (→3), backward only from layer 2
    # (→1); rank 1 forward from layer 1 (→2), backward from layers 1 (→0) and 3 (→2).
    kw = dict(pp_schedule="interleaved", virtual_stages=2)
    assert one(0, **kw) == {("send_recv", "forward", msg): 8, ("send_recv", "backward", msg): 4}
    assert one(1, **kw) == {("send_recv", "forward", msg): 4, ("send_recv", "backward", msg): 8}


def test_context_parallel_ring_hand_count():
    # cp=2, one 16-token sequence: each rank holds 8 tokens' K and V, 2·4 heads·16 = 128 bf16
    # values per token = 2048 bytes per chunk. Forward: one pass round a ring of 2 per layer;
    # backward: K/V and dK/dV once each (TE AttnFuncWithCPAndKVP2P).
    t = _tally(_vols(TINY, cp=2, num_gpus=2, seq_len=16), {"cp"})
    assert t == {("send_recv", "forward", 2048): 4, ("send_recv", "backward", 2048): 8}


def test_tied_embedding_grads_meet_across_the_pipeline():
    tied = dict(TINY, tie_word_embeddings=True)
    for stage in (0, 1):
        v = [x for x in _vols(tied, stage=stage, pp=2, num_gpus=2) if x.kind == "embedding_grad"]
        assert [(x.op, x.ranks, x.payload_bytes) for x in v] == [("all_reduce", 2, V * H * 2)]


def test_bad_stage_names_the_field():
    with pytest.raises(EstimatorError, match="stage"):
        _vols(TINY, stage=2, pp=2, num_gpus=2)
    with pytest.raises(EstimatorError, match="pp_schedule"):
        _vols(TINY, pp=2, num_gpus=2, grad_accum=3, pp_schedule="dualpipe")

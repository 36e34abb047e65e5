"""Training memory and compute against published figures (papers, Megatron-LM runs, model
reports) and invariants. No test here pins a number this code produced."""

from __future__ import annotations

import time

import pytest
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)

from estimator import EstimatorError, ModelSpec, count_params, load_model, make_options, training
from estimator.hardware import get_gpu

H100 = get_gpu("h100-sxm")
GB = 10**9
MB = 2**20  # Megatron prints MB = 2^20 bytes (NUM_BYTES_IN_MEGABYTE = 1024 * 1024)


def memory(model, **kw):
    return training.compute_memory(load_model(model), make_options(**kw), H100)


# ----------------------------------------------------------------------------------------------
# model states
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zero, published_gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_figure_1(zero, published_gb):
    """ZeRO paper (arXiv 1910.02054) Figure 1: Ψ = 7.5B parameters, N_d = 64, K = 12 (mixed
    precision Adam): baseline 120 GB; P_os 31.4 GB; P_os+g 16.6 GB; P_os+g+p 1.9 GB per GPU."""
    bpp = training.bytes_per_param(make_options(adam_bytes=16))
    got = sum(training.zero_state_bytes(7_500_000_000, bpp, "adamw", zero, 64).values())
    assert round(got / GB, 1) == published_gb


def test_megatron_distributed_optimizer_bytes_per_param():
    """Megatron-LM theoretical_memory_usage.py: ``6 + 12/d`` bytes per parameter with the
    distributed optimizer, 18 without (maintainer, Megatron-LM issue #654: 2 + 4 + 4 + 8)."""
    n = 2**20 * 3 * 5 * 7
    bpp = training.bytes_per_param(make_options(adam_bytes=18))
    assert sum(training.zero_state_bytes(n, bpp, "adamw", 0, 8).values()) == 18 * n
    for d in (1, 2, 4, 8, 16, 32):
        got = sum(training.zero_state_bytes(n, bpp, "adamw", 1, d).values())
        assert got == pytest.approx((6 + 12 / d) * n, rel=1e-12)


def test_megatron_llama2_7b_pp4_run_log():
    """A Megatron-LM (r0.10) Llama-2-7B run, TP=1, PP=4 on 8 GPUs (DP=2), distributed optimizer,
    bf16, published in a public RTX 4090 training guide (Infinigence, 2025-08-01): Megatron
    printed "most loaded shard 1.7502B, other shards 1.6191B" and "weight and optimizer =
    20029.52 MB"; after the first iteration the allocator held 20034.75 MB on rank 0 (stage 0)
    and 18598.75 MB on ranks 2 and 4 (stages 1, 2) — model states, activations freed.
    Megatron's formula counts norms as LayerNorm (weight + bias), hence its +0.004%."""
    tm = memory("llama-2-7b", num_gpus=8, pp=4, zero=1, adam_bytes=18, grad_accum=8)
    stages = {st.stage: st for st in tm.stages}
    assert stages[0].params_non_expert / 1e9 == pytest.approx(1.7502, abs=1e-4)
    assert stages[1].params_non_expert / 1e9 == pytest.approx(1.6191, abs=1e-4)
    assert stages[0].model_states / MB == pytest.approx(20029.52, rel=1e-4)
    assert stages[0].model_states / MB == pytest.approx(20034.75, rel=5e-3)
    assert stages[1].model_states / MB == pytest.approx(18598.75, rel=5e-3)
    assert stages[2].model_states / MB == pytest.approx(18598.75, rel=5e-3)


def test_eight_bit_adam_saves_75_percent_of_optimizer_memory():
    """bitsandbytes README: 8-bit optimizers "save 75% memory" of the 32-bit optimizer states."""
    n = 10**9
    fp32 = training.optimizer_state_bytes(n, "adamw")
    int8 = training.optimizer_state_bytes(n, "adamw_8bit")
    assert 1 - int8 / fp32 == pytest.approx(0.75, abs=0.005)


def test_bytes_per_param_conventions():
    """The three published AdamW conventions and the documented variants."""
    totals = {ab: training.bytes_per_param(make_options(adam_bytes=ab)).total
              for ab in (16, 18, 20)}
    assert totals == {16: 16, 18: 18, 20: 20}
    assert training.bytes_per_param(make_options(master_weights=False)).total == 12
    assert training.bytes_per_param(make_options(optimizer="sgd_momentum")).total == 12
    assert training.bytes_per_param(make_options(dtype="fp32")).total == 16  # 4 + 4 + 8


@pytest.mark.parametrize("preset", ["llama-3-8b", "mixtral-8x7b", "deepseek-v3", "qwen3-30b-a3b",
                                    "olmoe-1b-7b", "qwen1.5-moe-a2.7b"])
def test_unsharded_parameters_equal_params_module(preset):
    """With no model parallelism the GPU holds exactly the model (params.py, which equals
    transformers on the meta device) and, when trained, its MTP modules (``params.mtp``, which
    equals transformers' ``MtpModel``); with PP the stages partition it (plus Megatron's copy
    of a tied embedding on the last stage, and of the embedding the MTP stage holds)."""
    m = load_model(preset)
    pc = count_params(m.spec)
    tm = memory(m, num_gpus=1)
    w = tm.worst
    assert w.params_non_expert + w.params_expert == pc.total + pc.mtp
    w = memory(m, num_gpus=1, mtp_training=False).worst
    assert w.params_non_expert + w.params_expert == pc.total
    assert w.params_expert == pc.routed_experts
    tm4 = memory(m, num_gpus=4, pp=4, mtp_training=False)
    held = sum(st.params_non_expert + st.params_expert for st in tm4.stages)
    tied_copy = pc.embedding if m.spec.tie_word_embeddings else 0
    assert held == pc.total + tied_copy
    if pc.mtp:
        tm4 = memory(m, num_gpus=4, pp=4)
        held_mtp = sum(st.params_non_expert + st.params_expert for st in tm4.stages)
        assert held_mtp == held + pc.mtp + pc.embedding


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------

def _gpt(h: int, a: int, L: int = 4) -> ModelSpec:
    """A classic GPT block as in Korthikanti et al.: LayerNorm, MHA, GeLU MLP of width 4h."""
    return ModelSpec(name="gpt", model_type="custom", num_hidden_layers=L, hidden_size=h,
                     vocab_size=51200, num_attention_heads=a, num_key_value_heads=a,
                     intermediate_size=4 * h, gated_ffn=False, norm_type="layernorm",
                     norm_bias=True, attention_bias=True, attention_out_bias=True, ffn_bias=True)


@pytest.mark.parametrize("h, a, saved", [(12288, 96, 0.70), (20480, 128, 0.65)])
def test_korthikanti_selective_recompute_saving(h, a, saved):
    """Korthikanti et al. 2022 (arXiv 2205.05198) §4.2: at s = 2048, 5as/h = 80 for GPT-3 175B
    and 64 for MT-NLG 530B, so selective recomputation saves 70% and 65% of the activations."""
    full = training.korthikanti_layer_bytes(2048, 1, h, a)
    sel = training.korthikanti_layer_bytes(2048, 1, h, a, recompute="selective")
    assert 5 * a * 2048 / h in (80, 64)
    assert round(1 - sel / full, 2) == saved


@pytest.mark.parametrize("tp, recompute", [(1, "none"), (1, "selective"), (1, "full"),
                                           (8, "none"), (8, "selective"), (8, "full")])
def test_tensor_accounting_reproduces_korthikanti_table_2(tp, recompute):
    """The tensor-by-tensor account, on a classic GPT-3 175B block with dropout and without
    FlashAttention, equals the paper's closed forms (Table 2; tp = 8 with sequence parallel)."""
    spec = _gpt(12288, 96)
    opts = make_options(seq_len=2048, micro_batch=1, tp=tp, num_gpus=tp, flash_attention=False,
                        recompute=recompute)
    plan = training.parallel_plan(spec, opts)
    # Table 2 counts tensors of sbh elements or more: the per-token norm statistics (2sb) are not
    # in it, so they are left out here (norm_statistics=False); dropout is on, as in GPT-3.
    raw = training.layer_activation_terms(spec, opts, "dense", plan, dropout=True,
                                          norm_statistics=False)
    sp = tp if tp > 1 else 1
    kept = training.apply_recompute(raw, recompute, 2 * 2048 * 12288 // sp)
    want = training.korthikanti_layer_bytes(2048, 1, 12288, 96, tp, tp > 1, recompute)
    assert sum(kept.values()) == pytest.approx(want, rel=1e-12)


def test_flash_attention_removes_the_s_squared_term():
    spec = _gpt(4096, 32)
    no_flash = make_options(seq_len=8192, flash_attention=False, num_gpus=1)
    flash = make_options(seq_len=8192, flash_attention=True, num_gpus=1)
    t0 = training.layer_activation_terms(spec, no_flash)
    t1 = training.layer_activation_terms(spec, flash)
    assert "attn_probs" in t0 and "attn_probs" not in t1
    assert t1["attn_lse"] == 4 * 32 * 8192  # one fp32 per head and query (4·a·s·b)
    # doubling s doubles everything but the s² term
    t2 = training.layer_activation_terms(spec, flash.replace(seq_len=16384))
    assert sum(t2.values()) == 2 * sum(t1.values())


def test_moe_terms_scale_with_k_and_capacity_factor():
    """Invariants: the per-copy expert tensors are linear in k and grow with the capacity factor;
    a one-expert, top-1 MoE layer keeps the same FFN tensors as the dense layer of that width
    (STYLE.md: dense == MoE with E = 1, k = 1), and its one token copy is the size of the FFN
    input (the MLP norm's output)."""
    spec = load_model("mixtral-8x7b").spec
    opts = make_options(num_gpus=1, seq_len=1024)
    base = training.layer_activation_terms(spec, opts, "moe")
    k1 = training.layer_activation_terms(spec.replace(num_experts_per_tok=1), opts, "moe")
    for key in ("expert_input", "expert_up", "expert_act", "expert_output", "dispatch_probs"):
        assert base[key] == 2 * k1[key], key
    cf = training.layer_activation_terms(spec, opts.replace(capacity_factor=1.25), "moe")
    assert cf["expert_input"] == pytest.approx(1.25 * base["expert_input"], rel=1e-9)
    br = training.activation_breakdown(spec, opts)
    assert "moe_layer" in br and "dense_layer" not in br
    f = spec.moe_intermediate_size
    one = spec.replace(num_experts=1, num_experts_per_tok=1, intermediate_size=f)
    moe = training.layer_activation_terms(one, opts, "moe")
    dense = training.layer_activation_terms(one, opts, "dense")
    assert moe["expert_up"] == dense["ffn_up"] and moe["expert_act"] == dense["ffn_act"]
    assert moe["expert_input"] == moe["expert_output"] == dense["mlp_norm_output"]


def test_activation_framework_option():
    """The saved-tensor set is a named option (default Megatron) stated in the output; a bad
    value names the field."""
    tm = memory("llama-3-8b", num_gpus=8)
    assert tm.to_dict()["conventions"]["activation_framework"].startswith("megatron: ")
    eager = memory("llama-3-8b", num_gpus=8, activation_framework="pytorch_eager")
    assert eager.to_dict()["conventions"]["activation_framework"].startswith("pytorch_eager: ")
    with pytest.raises(EstimatorError) as e:
        make_options(activation_framework="deepspeed")
    assert e.value.field == "activation_framework"


# ----------------------------------------------------------------------------------------------
# invariants
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["llama-3-8b", "qwen3-30b-a3b", "deepseek-v3",
                                    "qwen1.5-moe-a2.7b", "gpt-oss-20b", "phi-3.5-moe"])
@pytest.mark.parametrize("kw", [dict(), dict(flash_attention=False, seq_len=2048),
                                dict(recompute="selective", dtype="fp32"),
                                dict(tp=4, recompute="full")])
def test_plain_pytorch_keeps_more_than_megatron(preset, kw):
    """Plain PyTorch autograd keeps a superset of Megatron's fused set (RMSNorm x·rsqrt, SwiGLU
    silu(gate), masks, RoPE tables, the eager loss's two T×V gradients), so its activations and
    peak are never below Megatron's for the same job."""
    m = load_model(preset)
    meg = memory(m, num_gpus=8, **kw)
    eag = memory(m, num_gpus=8, activation_framework="pytorch_eager", **kw)
    # under full recompute the rebuilt layer (recompute_moment) holds what each framework saves
    assert (max(eag.worst.activations, eag.worst.recompute_moment)
            >= max(meg.worst.activations, meg.worst.recompute_moment))
    assert eag.peak > meg.peak


def test_attention_core_moment_without_flash_attention():
    """Without FlashAttention the raw s×s scores coexist with the probabilities in each layer's
    core: on a pipeline stage without the loss (stage 0 of 4), a long sequence peaks there,
    by less than one layer's probabilities; with FlashAttention the term is absent."""
    kw = dict(num_gpus=4, pp=4, grad_accum=8, seq_len=8192)
    flash = memory("llama-3-8b", **kw)
    assert all(st.attention_core == 0 for st in flash.stages)
    tm = memory("llama-3-8b", flash_attention=False, **kw)
    st0 = tm.stages[0]
    probs = tm.breakdown["dense_layer"]["attn_probs"]
    assert 0 < st0.attention_core < probs
    assert st0.parts_at_peak()["attention_core"] == st0.attention_core
    assert st0.peak == st0.model_states + st0.activations + st0.attention_core



PRESETS = ["llama-3-8b", "mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v2-lite", "gpt-oss-20b"]


@pytest.mark.parametrize("preset", PRESETS)
def test_monotone_in_micro_batch_and_seq_len(preset):
    m = load_model(preset)
    peaks = [memory(m, num_gpus=8, micro_batch=b).peak for b in (1, 2, 4)]
    assert peaks == sorted(peaks) and peaks[0] < peaks[-1]
    peaks = [memory(m, num_gpus=8, seq_len=s).peak for s in (512, 2048, 8192)]
    assert peaks == sorted(peaks) and peaks[0] < peaks[-1]


@pytest.mark.parametrize("preset", PRESETS)
def test_nonincreasing_in_zero_tp_pp_ep(preset):
    m = load_model(preset)
    peaks = [memory(m, num_gpus=8, zero=z).peak for z in (0, 1, 2, 3)]
    assert peaks == sorted(peaks, reverse=True) and peaks[-1] < peaks[0]
    s = m.spec
    tps = [t for t in (1, 2, 4, 8)  # training needs a mod tp = g mod tp = 0 (Megatron)
           if s.num_attention_heads % t == 0 and (s.mla or s.num_key_value_heads % t == 0)]
    peaks = [memory(m, num_gpus=8, tp=t).peak for t in tps]
    assert len(peaks) >= 3 and peaks == sorted(peaks, reverse=True)
    L = m.spec.num_hidden_layers
    pps = [p for p in (1, 2, 4, 8) if L % p == 0]
    peaks = [memory(m, num_gpus=8, pp=p, grad_accum=16).peak for p in pps]
    assert peaks == sorted(peaks, reverse=True)
    if m.spec.is_moe:
        eps = [e for e in (1, 2, 4, 8) if m.spec.num_experts % e == 0]
        peaks = [memory(m, num_gpus=8, ep=e).peak for e in eps]
        assert peaks == sorted(peaks, reverse=True) and peaks[-1] < peaks[0]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("flash", [True, False])
def test_recompute_full_lt_selective_lt_none(preset, flash):
    m = load_model(preset)
    acts = [memory(m, num_gpus=8, recompute=r, flash_attention=flash).worst.activations
            for r in ("full", "selective", "none")]
    assert acts[0] < acts[1] < acts[2]


def test_grad_accum_does_not_change_activations_without_pipeline():
    a = [memory("llama-3-8b", num_gpus=8, grad_accum=g).worst.activations for g in (1, 8)]
    assert a[0] == a[1]


def test_first_pipeline_stage_holds_pp_microbatches():
    tm = memory("llama-3-8b", num_gpus=8, pp=4, grad_accum=32)
    assert [st.in_flight for st in tm.stages] == [4, 3, 2, 1]
    tm = memory("llama-3-8b", num_gpus=8, pp=4, grad_accum=2)
    assert [st.in_flight for st in tm.stages] == [2, 2, 2, 1]


def test_zero3_buffer_and_peak_reporting():
    tm = memory("llama-3-8b", num_gpus=8, zero=3)
    d = tm.to_dict()
    assert d["per_gpu"]["zero3_buffer"] > 0
    assert memory("llama-3-8b", num_gpus=8, zero=2).to_dict()["per_gpu"]["zero3_buffer"] == 0
    assert d["peak"] == sum(d["peak_parts"].values())
    assert d["peak_set_by"] in d["peak_parts"]
    assert d["fits"] == (d["peak"] <= d["gpu_memory"])
    for key in ("weights", "gradients", "master_weights", "optimizer", "activations", "logits",
                "zero3_buffer"):
        assert key in d["per_gpu"]
    for key in ("activation_breakdown", "bytes_per_param", "conventions", "parallel"):
        assert key in d


@pytest.mark.parametrize("ep", [2, 8])
def test_expert_optimizer_shards_over_expert_data_parallel(ep):
    """Megatron (REFERENCE.md §3): expert states shard over world/(etp·ep·pp), not over dp.
    Conservation: with ZeRO-1 on 64 GPUs (tp = pp = 1, every rank alike) the optimizer states
    and master weights of all ranks together are exactly one copy of the whole model's
    (params.count_params = transformers), no expert state lost (sharded over dp) or duplicated
    (not sharded); without ZeRO every rank holds a full copy of what it computes with."""
    m = load_model("mixtral-8x7b")
    pc = count_params(m.spec)
    world = 64
    tm = memory(m, num_gpus=world, ep=ep, etp=1, zero=1)
    assert tm.plan.edp == world // ep and tm.plan.dp_shard == world
    assert tm.worst.params_expert * ep == pc.routed_experts
    assert tm.worst.params_non_expert + pc.routed_experts == pc.total
    st = tm.worst.states
    # per-rank shards are ceil(n / shard): a few elements of rounding over 46.7B parameters
    assert world * st["optimizer"] == pytest.approx(8 * pc.total, rel=1e-7)
    assert world * st["master_weights"] == pytest.approx(4 * pc.total, rel=1e-7)
    # weights are not sharded by ZeRO-1: the rank's own experts and all non-expert weights
    assert st["weights"] == 2 * (tm.worst.params_non_expert + tm.worst.params_expert)
    no_zero = memory(m, num_gpus=world, ep=ep, etp=1, zero=0).worst
    assert no_zero.states["optimizer"] == 8 * (no_zero.params_non_expert + no_zero.params_expert)


@pytest.mark.parametrize("kw, field", [
    (dict(model="mixtral-8x7b", ep=3, num_gpus=6), "ep"),       # 3 does not divide E = 8
    (dict(model="mixtral-8x7b", ep=8, num_gpus=4), "ep"),       # 8 does not divide dp·cp = 4
    (dict(model="mixtral-8x7b", ep=4, etp=2, num_gpus=4), "ep"),  # ep·etp = 8 > tp·dp = 4
    (dict(model="llama-3-8b", pp=64, num_gpus=64), "pp"),       # more stages than layers
    (dict(model="llama-3-8b", tp=3, num_gpus=3), "tp"),         # 32 heads
    (dict(model="llama-3-8b", tp=16, num_gpus=16), "tp"),       # 32 heads, but 8 KV heads
    (dict(model="qwen3-30b-a3b", tp=8, num_gpus=8), "tp"),      # 32 heads, but 4 KV heads
    (dict(model="mixtral-8x7b", tp=16, num_gpus=16, ep=8), "tp"),  # 8 KV heads
    (dict(model="deepseek-v2-lite", tp=32, num_gpus=32), "tp"),  # MLA: 16 heads
])
def test_bad_layouts_name_the_field(kw, field):
    model = kw.pop("model")
    with pytest.raises(EstimatorError) as e:
        memory(model, **kw)
    assert e.value.field == field
    # the compute section checks the same layout
    with pytest.raises(EstimatorError) as e:
        training.compute(load_model(model), make_options(**kw), H100)
    assert e.value.field == field


def test_tensor_parallel_heads_rule():
    """Megatron-Core splits attention heads evenly over TP (attention.py: divide(num_attention_
    heads, tp), divide(num_query_groups, tp)); MLA only needs its query heads divisible (its
    latent is duplicated per rank). Every divisor of both is accepted."""
    llama = load_model("llama-3-8b").spec  # a = 32, g = 8
    ok = [t for t in range(1, 33) if _accepts(llama, t)]
    assert ok == [1, 2, 4, 8]
    mla = load_model("deepseek-v2-lite").spec  # a = 16, MLA
    assert [t for t in range(1, 33) if _accepts(mla, t)] == [1, 2, 4, 8, 16]
    mha = _gpt(4096, 32)  # MHA: g = a
    assert [t for t in range(1, 33) if _accepts(mha, t)] == [1, 2, 4, 8, 16, 32]


def _accepts(spec, tp):
    try:
        training.check_tensor_parallel_heads(spec, tp)
    except EstimatorError as e:
        assert e.field == "tp" and e.value == tp
        return False
    return True


def test_default_expert_tp_lets_a_tp_ep_report_through():
    """``etp = 0`` resolves to 1 with ep > 1 (Megatron-Core MoE recipes set
    --expert-tensor-parallel-size 1 with EP) and to tp otherwise: Mixtral on 8 GPUs with
    tp = ep = 8 is a valid layout (each rank one whole expert), so the whole report, which
    computes the training sections, goes through."""

    r = single_gpu.estimate("mixtral-8x7b", tp=8, ep=8, num_gpus=8)
    d = r.to_dict(compare=False)["memory"]["training"]
    assert d["parallel"]["etp"] == 1 and d["parallel"]["expert_data_parallel"] == 1
    assert "ep > 1" in d["conventions"]["expert_tensor_parallel"]
    # each rank holds one whole expert per layer
    m = load_model("mixtral-8x7b")
    assert d["params_on_gpu"]["expert"] * 8 == count_params(m.spec).routed_experts
    # without EP the experts are split like the dense FFN: etp = tp
    assert memory(m, tp=8, num_gpus=8).plan.etp == 8
    assert memory(m, tp=8, ep=2, etp=4, num_gpus=8).plan.etp == 4  # explicit etp wins
    assert "the etp option" in memory(m, tp=8, ep=2, etp=4, num_gpus=8).to_dict()[
        "conventions"]["expert_tensor_parallel"]


def test_training_and_inference_hold_the_same_non_expert_layer_weights():
    """Per-rank weights of a layer's attention, norms, router and shared experts / dense FFN
    under TP: the training section and inference memory (memory.layer_params, vLLM's split)
    agree whenever the layout is valid for training (a and g divisible by tp, so inference's
    KV-head replication at g < tp never applies; MLA's latent projections duplicated on every
    rank in both, as Megatron and vLLM do)."""
    from estimator import memory as mem

    for preset, tp in (("llama-3-8b", 8), ("deepseek-v2-lite", 4), ("qwen3-30b-a3b", 4)):
        s = load_model(preset).spec
        plan = training.parallel_plan(s, make_options(tp=tp, num_gpus=tp))
        lp = training._layer_params(s, plan)
        ip = mem.layer_params(s, tp)
        held = lp.moe_non_expert if s.is_moe else lp.dense
        inf = ip.attn_mat + ip.attn_extra + ip.layer_norms
        if s.is_moe:
            inf += ip.router + ip.shared_mat + ip.shared_extra + ip.moe_other
        else:
            inf += ip.dense_mat + ip.dense_extra
        assert held == inf, preset


def test_expert_parallel_is_ignored_on_a_dense_model():
    """One option set serves a MoE model and its dense equivalents (report side by side)."""
    tm = memory("llama-3-8b", ep=8, num_gpus=8)
    assert tm.plan.ep == 1 and tm.to_dict()["parallel"]["ignored"]
    assert tm.peak == memory("llama-3-8b", num_gpus=8).peak


def test_speed():
    m = load_model("deepseek-v3")
    o = make_options(num_gpus=2048, pp=16, ep=64, zero=1, grad_accum=64)
    t = time.perf_counter()
    for _ in range(100):
        training.compute_memory(m, o, H100)
        training.compute(m, o, H100)
    assert (time.perf_counter() - t) / 100 < 2e-3


# ----------------------------------------------------------------------------------------------
# compute, time, cost
# ----------------------------------------------------------------------------------------------

LLAMA3_405B = {  # Meta, "The Llama 3 Herd of Models", arXiv 2407.21783, Table 3
    "model_type": "llama", "num_hidden_layers": 126, "hidden_size": 16384,
    "num_attention_heads": 128, "num_key_value_heads": 8, "intermediate_size": 53248,
    "vocab_size": 128256, "tie_word_embeddings": False, "max_position_embeddings": 8192,
}


def test_llama3_405b_training_flops():
    """Llama 3 paper §3.1 / §3.2.1: 405B parameters trained on 15.6T tokens with 3.8 × 10^25
    FLOPs. 6·N·D reproduces it; the detailed count (causal attention at s = 8192, Megatron's
    convention) is a few percent higher, for the attention and lm_head."""
    m = load_model(LLAMA3_405B)
    opts = make_options(seq_len=8192, train_tokens=15.6e12, attention_flops="causal")
    tc = training.compute(m, opts, H100)
    assert count_params(m.spec).total / 1e9 == pytest.approx(405, rel=0.01)
    assert tc.six_n_d == pytest.approx(3.8e25, rel=0.01)
    assert 1.0 < tc.model_flops / 3.8e25 < 1.05


def test_llama3_405b_gpu_hours():
    """Independent published figures for the time formula: the Llama 3 paper (arXiv 2407.21783,
    Table 4) reports 41% BF16 MFU (400 TFLOP/s per H100) for the 405B pre-training on 16,384
    GPUs at seq 8192; the Llama 3.1 model card reports 30.84M H100 GPU-hours for 405B. The
    card's figure is wall time, which includes interruptions (the paper, §3.3.4: "higher than
    90% effective training time") and the 128K-context stage at 38% MFU, so the estimate for
    15.6T tokens at 41% MFU, with Meta's causal FLOP convention, must land at about 90% of it."""
    m = load_model(LLAMA3_405B)
    opts = make_options(seq_len=8192, train_tokens=15.6e12, attention_flops="causal",
                        num_gpus=16384, mfu=0.41)
    tc = training.compute(m, opts, H100).to_dict()
    assert tc["peak_flops_per_gpu"] * 0.41 == pytest.approx(400e12, rel=0.02)  # Table 4
    assert tc["gpu_hours"] / 30.84e6 == pytest.approx(0.9, abs=0.05)
    assert tc["days"] == pytest.approx(tc["gpu_hours"] / 16384 / 24)


def test_moe_chinchilla_guidance_shows_both_ratios():
    tc = training.compute(load_model("deepseek-v3"), make_options(train_tokens=14.8e12),
                          H100).to_dict()
    ch = tc["chinchilla"]
    assert ch["tokens_per_param_active"] > ch["tokens_per_param_total"]
    assert "ambiguous" in ch["note"]


@pytest.mark.parametrize("n_params, published_tokens", [
    (400e6, 8.0e9), (1e9, 20.2e9), (10e9, 205.1e9), (67e9, 1.5e12), (175e9, 3.7e12),
    (280e9, 5.9e12), (520e9, 11.0e12), (1e12, 21.2e12), (10e12, 216.2e12)])
def test_chinchilla_rule_against_table_3(n_params, published_tokens):
    """Hoffmann et al. 2022 (arXiv 2203.15556) Table 3, the compute-optimal token counts their
    Approach 1 projects for nine model sizes (20.0 to 22.4 tokens per parameter): the
    20-tokens-per-parameter rule the guidance uses is within 11% of every row."""
    assert training.chinchilla_tokens(int(n_params)) == pytest.approx(published_tokens, rel=0.11)


def test_compute_optimal_dense_uses_model_flops():
    """Recomputation repeats work without training a bigger model: the Chinchilla-optimal dense
    model a run's compute buys does not change with ``recompute`` (training FLOPs do), and it is
    the model Chinchilla's C = 6·N·D would train on those model FLOPs (N·D·6 = C, D = 20·N)."""

    rows = {}
    for rc in ("none", "full"):
        d = single_gpu.estimate("mixtral-8x7b", recompute=rc).to_dict()
        rows[rc] = (d["dense_vs_moe"]["compute_optimal_dense"], d["training"])
    assert rows["full"][1]["training_flops"] > rows["none"][1]["training_flops"]
    assert rows["full"][0] == rows["none"][0]
    opt, tr = rows["none"]
    assert 6 * opt["params"] * opt["tokens"] == pytest.approx(tr["model_flops"], rel=1e-9)
    assert opt["tokens"] == pytest.approx(20 * opt["params"], rel=1e-12)


def test_peak_follows_the_catalog_peak_for_the_training_dtype():
    """Time divides by ``gpu.peak_flops(dtype)`` (the catalog's peak-for-dtype rule), and the
    output names that peak: fp8 training at the FP8 rate, fp32 at the GPU's fp32 (TF32) rate.
    At a given MFU (the predicted one depends on the dtype's kernels too)."""
    m = load_model("llama-3-8b")
    bf16 = training.compute(m, make_options(mfu=0.4), H100)
    for dtype in ("fp32", "fp8", "bf16"):
        tc = training.compute(m, make_options(dtype=dtype, mfu=0.4), H100)
        assert tc.peak_flops == H100.peak_flops(dtype)
        assert tc.seconds == pytest.approx(bf16.seconds * H100.bf16_flops / tc.peak_flops)
        assert f"peak_flops('{dtype}')" in tc.peak_basis
    assert training.compute(m, make_options(dtype="fp8"), H100).peak_basis.startswith(
        "dense FP8")


def test_long_context_attention_note():
    """At long context the attention convention moves time and cost a lot (Llama-3-8B at
    131,072 tokens: 176k GPU-hours full vs 104k causal per 10^12 tokens); the compute section
    says so whenever QKᵀ + A·V exceed 20% of the model FLOPs, with the share and the change the
    other convention gives — which must be what a run with that convention reports."""
    m = load_model("llama-3-8b")
    short = training.compute(m, make_options(seq_len=4096, mfu=0.4), H100).to_dict()
    assert short["notes"] == []
    full = training.compute(m, make_options(seq_len=131072, mfu=0.4), H100)
    causal = training.compute(m, make_options(seq_len=131072, attention_flops="causal", mfu=0.4),
                              H100)
    (note,) = full.to_dict()["notes"]
    fl = estimator_flops(m, seq_len=131072)
    share = (fl["breakdown"]["attention_scores"] + fl["breakdown"]["attention_values"]) \
        / fl["forward"]
    assert share > 0.2 and f"is {share:.0%} of the model FLOPs at seq_len=131,072" in note
    lower = 1 - causal.seconds / full.seconds
    assert f"'causal' time and cost are {lower:.0%} lower" in note
    assert 1 - causal.cost_usd / full.cost_usd == pytest.approx(lower)
    (back,) = causal.to_dict()["notes"]
    assert f"'full' (the executed square, e.g. eager attention) time and cost are " \
           f"{full.seconds / causal.seconds - 1:.0%} higher" in back


def estimator_flops(m, **kw):
    from estimator import flops

    return flops.compute(m, make_options(batch=1, **kw)).to_dict()


def test_cost_uses_catalog_price_with_its_date_or_the_users():
    m = load_model("llama-3-8b")
    tc = training.compute(m, make_options(mfu=0.4), H100).to_dict()
    assert tc["price_per_gpu_hour"] == H100.price_per_hour_usd
    assert H100.price_as_of in tc["price_source"]
    assert tc["cost_usd"] == pytest.approx(tc["gpu_hours"] * H100.price_per_hour_usd)
    tc2 = training.compute(m, make_options(price_per_gpu_hour=1.0), H100).to_dict()
    assert tc2["cost_usd"] == pytest.approx(tc2["gpu_hours"])
    # twice the GPUs at the same MFU: half the time, same GPU-hours
    tc3 = training.compute(m, make_options(num_gpus=16, mfu=0.4), H100).to_dict()
    assert tc3["seconds"] == pytest.approx(tc["seconds"] / 2)
    assert tc3["gpu_hours"] == pytest.approx(tc["gpu_hours"])


def test_predicted_time_follows_the_executed_attention_not_the_convention():
    """With the predicted MFU, time is the work the kernel executes (FlashAttention: the causal
    half), so attention_flops changes the reported MFU by the ratio of the two counts and leaves
    time and cost alone; the note says so."""
    m = load_model("llama-3-8b")
    full = training.compute(m, make_options(seq_len=131072), H100)
    causal = training.compute(m, make_options(seq_len=131072, attention_flops="causal"), H100)
    assert full.mfu_source == causal.mfu_source == "predicted"
    assert causal.seconds == pytest.approx(full.seconds)
    assert causal.mfu / full.mfu == pytest.approx(causal.model_flops / full.model_flops)
    assert "changes the reported MFU, not time or cost" in full.to_dict()["notes"][0]


# ----------------------------------------------------------------------------------------------
# multi-token prediction (DeepSeek-V3 report §2.2)
# ----------------------------------------------------------------------------------------------

MTP_CONFIG = dict(model_type="deepseek_v3", hidden_size=64, intermediate_size=96,
                  moe_intermediate_size=32, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=4, vocab_size=100, n_routed_experts=8,
                  num_experts_per_tok=2, n_group=2, topk_group=1, q_lora_rank=24,
                  kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=12,
                  first_k_dense_replace=1, n_shared_experts=1, num_nextn_predict_layers=1)


@pytest.mark.parametrize("pp", [1, 2])
def test_mtp_parameters_on_the_last_stage_equal_transformers_mtp_model(pp):
    """With ``mtp_training`` the last stage holds the MTP module: what transformers' ``MtpModel``
    builds besides the embedding and head it shares with the main model (pp = 1: the same
    rank holds those), and with pp > 1 Megatron-Core's embedding copy on the MTP stage
    (``gpt_model.py``: ``if self.pre_process or self.mtp_process``) — transformers' shared
    ``embed_tokens``. Weights, gradients and optimizer states follow them (one ZeRO rule)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import warnings

    import hf_oracle
    from transformers.modeling_layers import MtpModel

    from estimator.hf import spec_from_hf_config

    main = hf_oracle.build(MTP_CONFIG)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        mtp = MtpModel(main, 1)
    expected = hf_oracle.numel(mtp) - hf_oracle.numel(mtp, "shared_head")
    if pp == 1:
        expected -= hf_oracle.numel(mtp, "embed_tokens")
    spec = spec_from_hf_config(MTP_CONFIG)
    got = {}
    for on in (True, False):
        mem = training.compute_memory(spec, make_options(num_gpus=pp, pp=pp, mtp_training=on),
                                      H100)
        last = mem.stages[-1]
        got[on] = (last.params_non_expert + last.params_expert, last.model_states)
    assert got[True][0] - got[False][0] == expected
    bpp = training.bytes_per_param(make_options())
    assert got[True][1] - got[False][1] == expected * bpp.total


def test_mtp_activations_add_a_block_and_a_saved_loss_on_the_last_stage():
    """The trained MTP module's saved tensors sit on the last stage only: at least one more
    MoE layer and its loss's fp32 softmax (4·T·V bytes, Megatron ``cross_entropy.py``)."""
    on = memory("deepseek-v3", num_gpus=64, pp=4, ep=16, seq_len=4096)
    off = memory("deepseek-v3", num_gpus=64, pp=4, ep=16, seq_len=4096, mtp_training=False)
    assert [s.activations for s in on.stages[:-1]] == [s.activations for s in off.stages[:-1]]
    extra = on.stages[-1].activations - off.stages[-1].activations
    T, V = 4096, load_model("deepseek-v3").spec.vocab_size
    assert extra > on.breakdown["moe_layer_total"] + 4 * T * V
    assert "on:" in on.to_dict()["conventions"]["mtp_training"]


def test_deepseek_v3_card_671b_main_plus_14b_mtp_is_the_hubs_685b():
    """DeepSeek-V3 model card: "685B ... includes 671B of the Main Model weights and 14B of the
    Multi-Token Prediction (MTP) Module weights". The MTP module the training counts
    (``params.mtp``, equal to transformers' ``MtpModel``) is 11.61B; the checkpoint's layer 61
    also stores its own copies of the embedding and head (``embed_tokens``,
    ``shared_head.head``: 2·V·h) and, like every layer, FP8 128×128 block scales
    (``weight_scale_inv``, one fp32 per block of each quantized matrix: MLA projections, FFNs,
    experts, ``eh_proj``; report §3.3) and ``e_score_correction_bias``. Counted here from the
    config's shapes, the Hub total rounds to 685B; without the scales it would round to 684B.
    The card's "14B" is 685 − 671, rounded figures."""
    import math

    s = load_model("deepseek-v3").spec
    pc = count_params(s)
    m, h, a = s.mla, s.hidden_size, s.num_attention_heads

    def blocks(rows, cols):
        return math.ceil(rows / 128) * math.ceil(cols / 128)

    def ffn(f):
        return 2 * blocks(f, h) + blocks(h, f)

    attn = (blocks(m.q_lora_rank, h)
            + blocks(a * (m.qk_nope_head_dim + m.qk_rope_head_dim), m.q_lora_rank)
            + blocks(m.kv_lora_rank + m.qk_rope_head_dim, h)
            + blocks(a * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank)
            + blocks(h, a * m.v_head_dim))
    n_moe = s.num_moe_layers + s.num_mtp_layers  # the MTP block is an MoE block
    scales = ((s.num_hidden_layers + s.num_mtp_layers) * attn
              + s.num_dense_layers * ffn(s.intermediate_size)
              + n_moe * (s.num_experts * ffn(s.moe_intermediate_size)
                         + ffn(s.shared_expert_intermediate_size))
              + s.num_mtp_layers * blocks(h, 2 * h))
    copies = s.num_mtp_layers * 2 * s.vocab_size * h
    hub = pc.total + pc.mtp + copies + scales + n_moe * s.num_experts
    assert round(pc.total / 1e9) == 671
    assert round(hub / 1e9) == 685 and round((hub - scales) / 1e9) == 684

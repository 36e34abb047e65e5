"""Every workload option in one place: ``estimate()`` keywords, CLI flags and app widgets.

Each field carries its own metadata (help text, group, allowed choices, bounds), so the CLI
builds its flags from this dataclass and the app its widgets, and validation is written once.
Defaults are stated in every report ("conventions" section).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from dataclasses import dataclass, field
from typing import Any

from .errors import EstimatorError
from .params import ACTIVE_CONVENTION_OPTIONS

DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8", "int4", "mxfp4", "auto")
KV_DTYPES = ("auto", "fp32", "bf16", "fp16", "fp8", "int8")
# Bounds that keep every figure a finite float (a capacity factor of 1e300 overflowed to inf):
# far above any real job, and refused with the option's name like any other bad value.
MAX_GPUS = 10_000_000
MIN_MFU = 1e-6  # the smallest given MFU (mbu's minimum too): times stay finite floats
_AUTO = (" (0 = auto: the cheapest serving layout that holds the workload, said in "
         "memory.inference.layout; training reads 0 as 1)")


def opt(default: Any, help: str, group: str, *, choices: tuple | None = None,
        minimum: float | None = None, maximum: float | None = None, kind: type | None = None):
    """A dataclass field with the metadata the CLI, the app and validation read."""
    return field(default=default, metadata=dict(help=help, group=group, choices=choices,
                                                minimum=minimum, maximum=maximum,
                                                kind=kind or type(default)))


@dataclass(frozen=True)
class Options:
    """Workload and conventions. Groups: workload, parallel, inference, training, cost, serving."""

    # --- workload (shared by FLOPs, memory and speed) ---------------------------------------
    batch: int = opt(1, "sequences served at once (inference: prefill, KV cache, decode); "
                        "training uses micro_batch and grad_accum", "workload", minimum=1,
                     maximum=1_000_000)
    seq_len: int = opt(4096, "tokens per sequence (context length)", "workload", minimum=1,
                       maximum=100_000_000)
    dtype: str = opt("bf16", "weight dtype (inference); mxfp4 = routed experts in MXFP4 as "
                             "gpt-oss ships them, the rest bf16; auto = the checkpoint's "
                             "own format from its config.json (quantization_config, else "
                             "dtype/torch_dtype; estimator.ckpt_quant), bf16 without one",
                     "workload", choices=DTYPES)
    active_convention: str = opt("publisher", "what params.active counts: 'publisher' = the "
                                              "convention of the family's own model cards "
                                              "(with_embedding where no card establishes one); "
                                              "'with_embedding'; 'without_embedding' (input "
                                              "embedding left out); 'non_embedding' (embedding "
                                              "and lm_head left out)", "workload",
                                 choices=ACTIVE_CONVENTION_OPTIONS)
    attention_flops: str = opt("full", "attention FLOPs convention: 'full' = executed square "
                                       "score matrix (what FlopCounterMode measures); 'causal' = "
                                       "halved for the mask (Megatron, DeepSeek)", "workload",
                               choices=("full", "causal"))

    # --- parallelism ------------------------------------------------------------------------
    tp: int = opt(0, "tensor-parallel size" + _AUTO, "parallel",
                 minimum=0, maximum=MAX_GPUS)
    pp: int = opt(0, "pipeline-parallel size" + _AUTO, "parallel",
                 minimum=0, maximum=MAX_GPUS)
    ep: int = opt(0, "expert-parallel size" + _AUTO, "parallel",
                 minimum=0, maximum=MAX_GPUS)
    etp: int = opt(0, "expert tensor-parallel size (training): 0 = 1 when ep > 1 (Megatron-Core "
                      "MoE recipes: --expert-tensor-parallel-size 1 with expert parallelism), "
                      "else tp; 1 = experts not split by TP", "parallel", minimum=0,
                  maximum=MAX_GPUS)
    cp: int = opt(1, "context-parallel size (training)", "parallel", minimum=1,
                  maximum=MAX_GPUS)
    num_gpus: int = opt(8, "GPUs in the training job (data-parallel size = num_gpus / "
                           "(tp·pp·cp))", "parallel", minimum=1, maximum=MAX_GPUS)
    gpu: str = opt("h100-sxm", "GPU type (configs/hardware.yaml id)", "parallel")

    # --- inference --------------------------------------------------------------------------
    kv_dtype: str = opt("auto", "KV-cache dtype; 'auto' = the dtype activations run in, as "
                                "inference engines' auto does (fp32 weights: fp32; bf16/fp16: "
                                "the same; quantized weights: bf16); the report's "
                                "memory.inference.kv_dtype says what it resolved to",
                        "inference", choices=KV_DTYPES)
    include_vision: bool = opt(True, "a multimodal model's vision encoder and projector are "
                                     "loaded with the language model (params.vision; engines "
                                     "load them); false = text-only serving",
                               "inference")
    kv_cache: str = opt("engine", "MLA cache layout: 'engine' = compressed latent as vLLM/SGLang "
                                  "(and transformers >= 5) keep it; 'transformers' = decompressed "
                                  "per-head K/V as transformers 4.x kept it",
                        "inference", choices=("engine", "transformers"))
    gpu_memory_utilization: float = opt(0.9, "fraction of each GPU's memory the inference engine "
                                             "may use (vLLM's --gpu-memory-utilization, default "
                                             "0.9); the rest is left as headroom", "inference",
                                        minimum=0.05, maximum=1.0)
    max_num_batched_tokens: int = opt(0, "most tokens one prefill forward processes (vLLM's "
                                         "--max-num-batched-tokens, chunked prefill); 0 = the "
                                         "whole batch × seq_len in one pass", "inference",
                                      minimum=0, maximum=10**15)
    engine: str = opt("vllm", "inference engine whose start-up arithmetic sizes the KV cache "
                              "(memory.inference.engine): 'vllm' (v1: gpu_memory_utilization, "
                              "profile run, 16-token blocks) or 'sglang' (mem_fraction_static)",
                      "inference", choices=("vllm", "sglang"))
    max_num_seqs: int = opt(0, "most sequences one engine step runs (vLLM --max-num-seqs: the "
                               "sampler rows of the profile run); 0 = the engine's default "
                               "(1024 on >= 70 GiB GPUs other than A100, else 256)",
                            "inference", minimum=0, maximum=10**7)
    vllm_cudagraph_memory: str = opt("profiled", "where vLLM's CUDA graphs are paid for: "
                                                 "'profiled' = estimated during profiling and "
                                                 "subtracted before the KV cache is sized (vLLM "
                                                 ">= 0.21, VLLM_MEMORY_PROFILER_ESTIMATE_"
                                                 "CUDAGRAPHS=1); 'headroom' = captured after "
                                                 "the KV cache, out of 1 - "
                                                 "gpu_memory_utilization (vLLM 0.11-0.20, or "
                                                 "the variable set to 0, or --enforce-eager)",
                                     "inference", choices=("profiled", "headroom"))
    mem_fraction_static: float = opt(0.0, "SGLang --mem-fraction-static; 0 = SGLang's default "
                                          "(GPU memory less a reserve for activations and CUDA "
                                          "graphs; 0.83-0.84 on an H100)", "inference",
                                     minimum=0.0, maximum=1.0)

    # --- training ---------------------------------------------------------------------------
    train_tokens: float = opt(1e12, "training tokens D", "training", minimum=1.0, maximum=1e18)
    optimizer: str = opt("adamw", "optimizer", "training",
                         choices=("adamw", "adamw_8bit", "sgd_momentum"))
    adam_bytes: int = opt(16, "mixed-precision AdamW bytes/parameter convention: 16 (ZeRO "
                              "paper), 18 (Megatron/DeepSpeed, fp32 grads), 20 (fp32 grad "
                              "accumulation, HF Ultra-Scale Playbook)", "training",
                          choices=(16, 18, 20))
    master_weights: bool = opt(True, "keep an fp32 master copy of the weights", "training")
    zero: int = opt(0, "ZeRO stage / FSDP (3 = FULL_SHARD)", "training", choices=(0, 1, 2, 3))
    recompute: str = opt("none", "activation recomputation", "training",
                         choices=("none", "selective", "full"))
    flash_attention: bool = opt(True, "fused attention (no s² score tensor saved)", "training")
    activation_framework: str = opt("megatron", "saved-tensor set of the training code: "
                                                "'megatron' = Megatron-LM + Transformer Engine "
                                                "fused kernels (minimal set); 'pytorch_eager' = "
                                                "a plain PyTorch decoder under autograd "
                                                "(nn.Linear, F.silu, RMSNorm as x·rsqrt(...), "
                                                "F.cross_entropy)", "training",
                                    choices=("megatron", "pytorch_eager"))
    mtp_training: bool = opt(True, "train the model's multi-token-prediction (MTP) modules "
                                   "with it when its config declares them "
                                   "(num_nextn_predict_layers; DeepSeek-V3 pretraining did, "
                                   "arXiv 2412.19437 §2.2/§4.2: depth 1): their FLOPs, "
                                   "weights, optimizer states and activations on the last "
                                   "pipeline stage; no effect without MTP layers", "training")
    micro_batch: int = opt(1, "micro-batch size (sequences) per GPU", "training", minimum=1,
                           maximum=1_000_000)
    grad_accum: int = opt(1, "gradient-accumulation steps", "training", minimum=1,
                          maximum=1_000_000)
    capacity_factor: float = opt(0.0, "MoE expert capacity factor (0 = dropless)", "training",
                                 minimum=0.0, maximum=1000.0)
    pp_schedule: str = opt("1f1b", "pipeline schedule (step time): '1f1b' (PipeDream-Flush, "
                                   "Narayanan et al. 2021), 'interleaved' (virtual_stages model "
                                   "chunks per rank, same paper §2.2.2), 'dualpipe' (DeepSeek-V3 "
                                   "report §3.2.1: bidirectional, EP all-to-all hidden under "
                                   "compute)", "training",
                           choices=("1f1b", "interleaved", "dualpipe"))
    virtual_stages: int = opt(2, "model chunks per pipeline rank with pp_schedule='interleaved' "
                                 "(Megatron --num-virtual-stages-per-pipeline-rank)", "training",
                              minimum=1, maximum=1024)
    moe_dispatcher: str = opt("alltoall", "MoE token dispatcher: 'alltoall' (Megatron's "
                                          "all-to-all dispatcher: every routed copy crosses "
                                          "the EP group), 'deepep' (DeepEP normal kernels: one "
                                          "copy per destination node over the network, "
                                          "forwarded over NVLink inside it)", "training",
                              choices=("alltoall", "deepep"))
    moe_dispatch_dtype: str = opt("bf16", "MoE dispatch format: 'bf16', or 'fp8' (DeepEP/"
                                          "DeepSeek-V3: fp8 tokens with one fp32 scale per 128 "
                                          "channels; combine stays bf16)", "training",
                                  choices=("bf16", "fp8"))
    moe_imbalance: float = opt(1.0, "tokens on the busiest expert-parallel rank over the mean "
                                    "(step time: the busiest rank sets the pace; 1 = perfectly "
                                    "balanced routing)", "training", minimum=1.0, maximum=1000.0)

    # --- cost -------------------------------------------------------------------------------
    mfu: float = opt(0.0, "model FLOPs utilization for training and prefill; 0 = predict "
                          "it (training: the step-time model of estimator/steptime.py; "
                          "prefill: the measured GEMM efficiency at its token count)", "cost",
                     minimum=0.0, maximum=1.0)
    price_per_gpu_hour: float = opt(0.0, "$ per GPU-hour (0 = the catalog's dated price)",
                                    "cost", minimum=0.0, maximum=1e6)

    # --- serving ----------------------------------------------------------------------------
    mbu: float = opt(0.8, "memory-bandwidth utilization for decode", "serving",
                     minimum=1e-6, maximum=1.0)
    concurrency: int = opt(0, "sequences decoding at once for serving.latency (closed loop); "
                              "0 = batch", "serving", minimum=0, maximum=10**7)
    request_rate: float = opt(0.0, "requests per second arriving (open loop; 0 = closed loop "
                                   "at concurrency)", "serving", minimum=0.0, maximum=1e7)
    input_len: int = opt(0, "prompt tokens per request (0 = seq_len)", "serving", minimum=0,
                         maximum=100_000_000)
    output_len: int = opt(256, "generated tokens per request", "serving", minimum=1,
                          maximum=100_000_000)
    expert_imbalance: float = opt(0.0, "expert load imbalance: power-law exponent alpha of "
                                       "expert popularity (p_i ~ i^-alpha; 0 = uniform "
                                       "routing); the busiest expert-parallel rank sets the "
                                       "step", "serving", minimum=0.0, maximum=10.0)
    spec_draft_tokens: int = opt(0, "speculative / MTP draft tokens per step (DeepSeek-V3 "
                                    "MTP: 1); 0 = none", "serving", minimum=0, maximum=64)
    spec_acceptance: float = opt(0.85, "probability each draft token is accepted "
                                       "(DeepSeek-V3 reports 0.85-0.90 for its MTP token)",
                                 "serving", minimum=0.0, maximum=1.0)
    disaggregated: bool = opt(False, "prefill/decode disaggregation: prefills on separate "
                                     "replicas of the same layout, KV sent over the network",
                              "serving")

    def __post_init__(self) -> None:
        # the fields as a module tuple and the values from the instance dict: a third of the
        # cost of dataclasses.fields() + getattr (every new option set is validated here)
        d = self.__dict__
        for f in _FIELDS:
            _check(f, d[f.name])

    def __hash__(self) -> int:
        # Options key the per-workload memos (layout search, step time, engine, latency, the
        # report's sections and extras: ~18 lookups per full report). The generated __hash__
        # hashes a ~50-field tuple on every lookup (~2 µs); this hashes the same tuple (the
        # fields __eq__ compares, in field order) once per instance and keeps it, as ModelSpec
        # does. Copies that change a field drop it (autolayout.with_layout, _frozen.array_of).
        d = self.__dict__
        h = d.get("_hash")
        if h is None:
            h = d["_hash"] = hash(_FIELD_VALUES(d))
        return h

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def dp(self) -> int:
        """Data-parallel size of the training job (``num_gpus / (tp·pp·cp)``)."""
        return self.num_gpus // (max(self.tp, 1) * max(self.pp, 1) * self.cp)


def _check(f: dataclasses.Field, value: Any) -> None:
    md = f.metadata
    kind = md["kind"]
    name = f.name
    if kind is bool:
        if not isinstance(value, bool):
            raise EstimatorError(name, value, "must be true or false")
        return
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EstimatorError(name, value, "must be an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EstimatorError(name, value, "must be a number")
        # only a float can be NaN or infinite; math.isnan(10**400) raises OverflowError, and a
        # huge int is refused by the maximum below (int/float comparison is exact in Python)
        if isinstance(value, float) and not math.isfinite(value):
            raise EstimatorError(name, value, "must be a finite number")
    elif kind is str and not isinstance(value, str):
        raise EstimatorError(name, value, "must be a string")
    if name == "mfu" and 0 < value < MIN_MFU:  # 0 = predict; 1e-305 overflowed every time
        raise EstimatorError(name, value, f"must be 0 (predicted) or >= {MIN_MFU}")
    if md["choices"] is not None and value not in md["choices"]:
        raise EstimatorError(name, value, "must be one of "
                             + ", ".join(str(c) for c in md["choices"]))
    if md["minimum"] is not None and value < md["minimum"]:
        raise EstimatorError(name, value, f"must be >= {md['minimum']}")
    if md["maximum"] is not None and value > md["maximum"]:
        raise EstimatorError(name, value, f"must be <= {md['maximum']}")


OPTION_FIELDS = {f.name: f for f in dataclasses.fields(Options)}
_FIELDS = tuple(OPTION_FIELDS.values())
_FIELD_VALUES = operator.itemgetter(*OPTION_FIELDS)  # instance dict -> the fields' tuple


def make_options(**kw: Any) -> Options:
    """Options from keywords; an unknown keyword is an error naming it.

    Validated ``Options`` are immutable, so identical keyword sets share one cached instance
    (the app and sweeps call this thousands of times with the same values)."""
    try:
        # the type is part of the key: True == 1 and 1.0 == 1 must not share an entry
        return _make_options_cached(tuple(sorted((k, type(v), v) for k, v in kw.items())))
    except TypeError:  # an unhashable value: validate it the slow way (it will be rejected)
        return _make_options(**kw)


@functools.lru_cache(maxsize=4096)
def _make_options_cached(items: tuple) -> Options:
    return _make_options(**{k: v for k, _, v in items})


def _make_options(**kw: Any) -> Options:
    for k in kw:
        if k not in OPTION_FIELDS:
            raise EstimatorError(k, kw[k], "unknown option; known: " + ", ".join(OPTION_FIELDS))
    # num_gpus must be a multiple of tp·pp·cp for *training* only; training.py checks it, so an
    # inference layout larger than the training job (tp=16 with num_gpus=8) still reports.
    # The same instance as Options(**kw), validating only the given fields (in field order, so
    # the first bad one is named as __post_init__ names it): the defaults are valid
    # (_DEFAULTS_VALID below), and a new option set (the app's context slider) skips ~50 checks.
    for f in _FIELDS:
        if f.name in kw:
            _check(f, kw[f.name])
    o = object.__new__(Options)
    d = o.__dict__  # where the frozen dataclass's __init__ stores its fields, in field order
    d.update(_DEFAULTS)
    d.update(kw)
    return o


_DEFAULTS = {f.name: f.default for f in _FIELDS}
_DEFAULTS_VALID = Options()  # __post_init__ checks every default once, at import

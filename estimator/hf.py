"""Hugging Face ``config.json`` → :class:`~estimator.spec.ModelSpec`, one function per family.

Which fields are required and which default:

* **Required** — the sizes that define the model (hidden size, layers, heads, vocabulary, FFN
  and expert widths, expert counts and top-k). A config.json without one of these is truncated or
  not what it claims to be; we refuse it with an error naming the field instead of guessing.
* **Defaulted** — everything else (bias flags, tied embeddings, ``num_key_value_heads``,
  ``head_dim``, layer patterns ...) takes the default of transformers' own configuration class.
  Those defaults are written in :data:`DEFAULTS`; ``tests/test_hf_defaults.py`` reads the
  configuration classes of the installed transformers and checks every entry, so the table
  cannot drift silently. (We do not import transformers here: ``import estimator`` stays light.)

The one default not taken from transformers is DeepSeek's ``moe_layer_freq`` (see
:data:`DEFAULTS_NOT_IN_TRANSFORMERS`): transformers 5.24 ignores the key, DeepSeek's own modeling
code honours it.

Aliases (``attribute_map`` in transformers) are resolved in one place, :data:`ALIASES`; an error
about a missing aliased field names it the way the family's config.json does
(:data:`FIELD_NAMES`). Every integer is validated before any arithmetic uses it. An unknown
``model_type`` is an error listing the supported ones.

Exactness: for every family, ``tests/test_params_hf.py`` builds transformers' model from many
random configs on the meta device and requires our counts to equal its parameter count exactly.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import vision
from .errors import EstimatorError
from .spec import (
    MAX_CONTEXT,
    MLA,
    CompressedAttention,
    Mixer,
    MoA,
    ModelSpec,
    SharedBlock,
    check_int,
)

#: transformers' defaults for the fields we do not require (checked by tests against the
#: configuration classes of transformers 5.24). ``None`` means "derived", as transformers does.
DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": dict(num_key_value_heads=None, head_dim=None, tie_word_embeddings=False,
                  attention_bias=False, mlp_bias=False),
    "mistral": dict(num_key_value_heads=8, head_dim=None, tie_word_embeddings=False,
                    sliding_window=4096),
    "qwen2": dict(num_key_value_heads=32, tie_word_embeddings=False, use_sliding_window=False,
                  sliding_window=4096, max_window_layers=28, layer_types=None),
    "qwen3": dict(num_key_value_heads=32, head_dim=128, tie_word_embeddings=False,
                  attention_bias=False, use_sliding_window=False, sliding_window=4096,
                  max_window_layers=28, layer_types=None),
    "gemma": dict(num_key_value_heads=16, head_dim=256, tie_word_embeddings=True,
                  attention_bias=False),
    "mixtral": dict(num_key_value_heads=8, head_dim=None, tie_word_embeddings=False,
                    sliding_window=None),
    "phimoe": dict(num_key_value_heads=8, tie_word_embeddings=False, sliding_window=None,
                   attention_bias=False, lm_head_bias=False),
    "granitemoe": dict(num_key_value_heads=None, tie_word_embeddings=False,
                       attention_bias=False),
    "olmoe": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False),
    "qwen2_moe": dict(num_key_value_heads=16, tie_word_embeddings=False,
                      use_sliding_window=False, sliding_window=4096, max_window_layers=28,
                      layer_types=None, decoder_sparse_step=1, mlp_only_layers=None,
                      qkv_bias=True),
    "qwen3_moe": dict(num_key_value_heads=4, head_dim=None, tie_word_embeddings=False,
                      attention_bias=False, use_sliding_window=False, sliding_window=4096,
                      decoder_sparse_step=1, mlp_only_layers=None),
    "deepseek_v2": dict(tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                        first_k_dense_replace=0, moe_layer_freq=1, n_shared_experts=2,
                        q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128,
                        qk_rope_head_dim=64, v_head_dim=128),
    "deepseek_v3": dict(tie_word_embeddings=False, attention_bias=False, first_k_dense_replace=3,
                        moe_layer_freq=1, n_shared_experts=1, q_lora_rank=1536,
                        kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
                        v_head_dim=128, num_nextn_predict_layers=1),
    "glm4_moe": dict(num_key_value_heads=8, head_dim=None, tie_word_embeddings=False,
                     attention_bias=False, first_k_dense_replace=1, n_shared_experts=1,
                     use_qk_norm=False, num_nextn_predict_layers=1),
    "gpt_oss": dict(num_key_value_heads=8, head_dim=64, tie_word_embeddings=False,
                    sliding_window=128, attention_bias=True, layer_types=None),
    "llama4_text": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                        attention_bias=False, interleave_moe_layer_step=1, moe_layers=None,
                        attention_chunk_size=8192, layer_types=None, no_rope_layers=None,
                        no_rope_layer_interval=4, use_qk_norm=True),
    "dbrx": dict(tie_word_embeddings=False, kv_n_heads=1),
    "jetmoe": dict(num_key_value_heads=16, kv_channels=128, tie_word_embeddings=True),
    "glm4_moe_lite": dict(num_key_value_heads=20, tie_word_embeddings=False,
                          attention_bias=False, n_shared_experts=1, q_lora_rank=768,
                          kv_lora_rank=512, qk_nope_head_dim=192, qk_rope_head_dim=64,
                          v_head_dim=256, mlp_layer_types=None),
    "ernie4_5_moe": dict(num_key_value_heads=4, tie_word_embeddings=True, use_bias=False,
                         moe_num_shared_experts=2, moe_layer_start_index=1,
                         moe_layer_end_index=-1, moe_layer_interval=1),
    "hunyuan_v1_moe": dict(num_key_value_heads=None, tie_word_embeddings=False,
                           attention_bias=False),
    "aria_text": dict(num_key_value_heads=None, head_dim=None, tie_word_embeddings=False,
                      attention_bias=False, mlp_bias=False, moe_num_shared_experts=2),
    "minimax_m2": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
    "dots1": dict(num_key_value_heads=32, tie_word_embeddings=False, attention_bias=False,
                  first_k_dense_replace=0, sliding_window=4096, max_window_layers=62,
                  layer_types=None),
    "granitemoeshared": dict(num_key_value_heads=None, tie_word_embeddings=False,
                             attention_bias=False, shared_intermediate_size=0),
    "flex_olmo": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False),
    "exaone_moe": dict(num_key_value_heads=32, tie_word_embeddings=False, sliding_window=4096,
                       sliding_window_pattern=4, layer_types=None, mlp_layer_types=None,
                       first_k_dense_replace=1, num_shared_experts=1),
    "ministral": dict(num_key_value_heads=8, tie_word_embeddings=False,
                      sliding_window=4096, layer_types=None),
    "granite": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False,
                    mlp_bias=False),
    "seed_oss": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                     attention_bias=True, attention_out_bias=False, mlp_bias=False),
    "ernie4_5": dict(num_key_value_heads=2, head_dim=128, tie_word_embeddings=True,
                     use_bias=False),
    "olmo2": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False),
    "olmo3": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False,
                  sliding_window=4096, layer_types=None),
    "exaone4": dict(num_key_value_heads=32, tie_word_embeddings=False, sliding_window=4096,
                    sliding_window_pattern=4, layer_types=None),
    "gemma2": dict(num_key_value_heads=4, head_dim=256, tie_word_embeddings=True,
                   attention_bias=False, sliding_window=4096, layer_types=None),
    "gemma4_text": dict(num_key_value_heads=4, head_dim=256, tie_word_embeddings=True,
                        attention_bias=False, sliding_window=512, layer_types=None,
                        vocab_size_per_layer_input=262_144, hidden_size_per_layer_input=256,
                        attention_k_eq_v=False, num_kv_shared_layers=0, enable_moe_block=False,
                        use_double_wide_mlp=False, global_head_dim=512),
    "gemma4_unified_text": dict(num_key_value_heads=4, head_dim=256, tie_word_embeddings=True,
                                attention_bias=False, sliding_window=1024, layer_types=None,
                                attention_k_eq_v=False, num_kv_shared_layers=0,
                                use_double_wide_mlp=False, global_head_dim=512),
    "gemma3n_text": dict(num_key_value_heads=2, head_dim=256, tie_word_embeddings=True,
                         attention_bias=False, sliding_window=512, layer_types=None,
                         vocab_size_per_layer_input=262_144, hidden_size_per_layer_input=256,
                         num_kv_shared_layers=15, altup_num_inputs=4, altup_active_idx=0,
                         laurel_rank=64),
    "mimo_v2_flash": dict(num_key_value_heads=4, head_dim=192, v_head_dim=128,
                          tie_word_embeddings=False, attention_bias=False, sliding_window=129,
                          layer_types=None, mlp_layer_types=None),
    "laguna": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                   attention_bias=False, sliding_window=512, layer_types=None, gating=True,
                   mlp_layer_types=None),
    "gemma3_text": dict(num_key_value_heads=4, head_dim=256, tie_word_embeddings=True,
                        attention_bias=False, sliding_window=4096, layer_types=None,
                        sliding_window_pattern=6),
    "glm4": dict(num_key_value_heads=2, head_dim=128, tie_word_embeddings=False,
                 attention_bias=True),
    "phi3": dict(num_key_value_heads=None, tie_word_embeddings=False, sliding_window=None),
    "starcoder2": dict(num_key_value_heads=2, tie_word_embeddings=True, sliding_window=None,
                       use_bias=True),
    "cohere": dict(num_key_value_heads=None, tie_word_embeddings=True, attention_bias=False,
                   use_qk_norm=False),
    "cohere2": dict(num_key_value_heads=None, tie_word_embeddings=True, attention_bias=False,
                    sliding_window=4096, layer_types=None, sliding_window_pattern=4),
    "gpt_neox": dict(tie_word_embeddings=False, attention_bias=True),
    "cohere_compass_text": dict(num_key_value_heads=None, head_dim=None, tie_word_embeddings=True,
                                attention_bias=False, sliding_window=4096, layer_types=None),
    "helium": dict(num_key_value_heads=20, head_dim=128, tie_word_embeddings=False,
                   attention_bias=False, mlp_bias=False),
    "smollm3": dict(num_key_value_heads=4, tie_word_embeddings=True, attention_bias=False,
                    mlp_bias=False, use_sliding_window=False, sliding_window=None,
                    layer_types=None, no_rope_layers=None, no_rope_layer_interval=4),
    "hunyuan_v1_dense": dict(num_key_value_heads=None, tie_word_embeddings=False,
                             attention_bias=False),
    "arcee": dict(num_key_value_heads=None, head_dim=None, tie_word_embeddings=False,
                  attention_bias=False, mlp_bias=False),
    "ministral3": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                       sliding_window=None),
    "vaultgemma": dict(num_key_value_heads=4, head_dim=256, tie_word_embeddings=True,
                       attention_bias=False, sliding_window=4096, layer_types=None),
    "granite_swa": dict(num_key_value_heads=4, tie_word_embeddings=True, attention_bias=False,
                        mlp_bias=False, sliding_window=128, layer_types=None),
    "glm": dict(num_key_value_heads=2, head_dim=128, tie_word_embeddings=False,
                attention_bias=True),
    "granitemoe_swa": dict(num_key_value_heads=None, tie_word_embeddings=False,
                           attention_bias=False, shared_intermediate_size=0, sliding_window=128,
                           layer_types=None),
    "jais2": dict(num_key_value_heads=None, head_dim=None, tie_word_embeddings=False,
                  attention_bias=True, mlp_bias=True),
    "phi": dict(num_key_value_heads=None, tie_word_embeddings=False, qk_layernorm=False),
    "olmo": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False),
    "gpt_neo": dict(intermediate_size=None, tie_word_embeddings=True),
    "gptj": dict(n_inner=None, tie_word_embeddings=False),
    "codegen": dict(n_inner=None, tie_word_embeddings=False),
    "gpt2": dict(n_inner=None, tie_word_embeddings=True, add_cross_attention=False),
    "gpt_bigcode": dict(n_inner=None, tie_word_embeddings=True, add_cross_attention=False,
                        multi_query=True),
    "falcon": dict(num_kv_heads=None, new_decoder_architecture=False, multi_query=True,
                   parallel_attn=True, num_ln_in_parallel_attn=None, bias=False,
                   ffn_hidden_size=None, tie_word_embeddings=True, alibi=False),
    # hybrids (issue #13)
    "qwen3_next": dict(num_key_value_heads=2, head_dim=256, tie_word_embeddings=False,
                       attention_bias=False, decoder_sparse_step=1, mlp_only_layers=None,
                       linear_conv_kernel_dim=4, linear_key_head_dim=128,
                       linear_value_head_dim=128, linear_num_key_heads=16,
                       linear_num_value_heads=32),
    "jamba": dict(num_key_value_heads=8, tie_word_embeddings=False, attn_layer_period=8,
                  attn_layer_offset=4, expert_layer_period=2, expert_layer_offset=1,
                  mamba_d_state=16, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank="auto",
                  mamba_conv_bias=True, mamba_proj_bias=False),
    "bamba": dict(num_key_value_heads=8, tie_word_embeddings=False, attention_bias=False,
                  mlp_bias=False, attn_layer_indices=None, mamba_n_heads=128, mamba_d_head="auto",
                  mamba_n_groups=1, mamba_d_state=256, mamba_d_conv=4, mamba_expand=2,
                  mamba_conv_bias=True, mamba_proj_bias=False),
    "granitemoehybrid": dict(num_key_value_heads=None, tie_word_embeddings=False,
                             attention_bias=False, num_local_experts=8,
                             shared_intermediate_size=1024, mamba_n_heads=128,
                             mamba_d_head="auto",
                             mamba_n_groups=1, mamba_d_state=256, mamba_d_conv=4,
                             mamba_expand=2, mamba_conv_bias=True, mamba_proj_bias=False),
    "nemotron_h": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                       mlp_bias=False, use_bias=False, use_conv_bias=True, conv_kernel=4,
                       n_groups=8, ssm_state_size=128, mamba_num_heads=128, mamba_head_dim=64,
                       moe_latent_size=None, num_nextn_predict_layers=0),
    "falcon_h1": dict(num_key_value_heads=8, tie_word_embeddings=False, attention_bias=False,
                      mlp_bias=False, mamba_d_ssm=1024, mamba_n_heads=128, mamba_d_head="auto",
                      mamba_n_groups=1, mamba_d_state=256, mamba_d_conv=4, mamba_expand=2,
                      mamba_conv_bias=True, mamba_proj_bias=False, projectors_bias=False,
                      mamba_rms_norm=False),
    "zamba2": dict(num_key_value_heads=None, tie_word_embeddings=True, layers_block_type=None,
                   intermediate_size=None, mamba_d_state=64, mamba_d_conv=4, mamba_expand=2,
                   mamba_ngroups=1, n_mamba_heads=8, add_bias_linear=False, num_mem_blocks=1,
                   use_shared_attention_adapter=False, adapter_rank=128),
    "zamba": dict(num_key_value_heads=16, tie_word_embeddings=True, attention_hidden_size=None,
                  attention_head_dim=None, n_mamba_heads=2, attn_layer_period=6,
                  attn_layer_offset=4, mamba_d_state=16, mamba_d_conv=4, mamba_expand=2,
                  mamba_dt_rank="auto", mamba_conv_bias=True, mamba_proj_bias=False,
                  layers_block_type=None),
    "lfm2": dict(num_key_value_heads=8, tie_word_embeddings=True, conv_bias=False,
                 conv_L_cache=3, block_auto_adjust_ff_dim=True, block_multiple_of=256,
                 block_ffn_dim_multiplier=1.0, full_attn_idxs=None),
    "lfm2_moe": dict(num_key_value_heads=8, tie_word_embeddings=True, conv_bias=False,
                     conv_L_cache=3, num_dense_layers=2, use_expert_bias=True),
    "minimax": dict(num_key_value_heads=8, head_dim=None, tie_word_embeddings=False,
                    sliding_window=None),
    # DeepSeek-V3.2-Exp: DeepSeek-V3 + the DSA lightning indexer
    "deepseek_v32": dict(tie_word_embeddings=False, attention_bias=False, first_k_dense_replace=3,
                         n_shared_experts=1, q_lora_rank=1536, kv_lora_rank=512,
                         qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                         index_n_heads=64, index_head_dim=128, index_topk=2048,
                         mlp_layer_types=None, num_nextn_predict_layers=0),
    # GLM-5 (GlmMoeDsaConfig; its defaults are GLM-5's): DeepSeek-V3.2's MLA + DSA, and
    # GLM-5.2's IndexShare (indexer_types: "shared" layers reuse the previous indexer's top-k)
    "glm_moe_dsa": dict(tie_word_embeddings=False, attention_bias=False, first_k_dense_replace=3,
                        n_shared_experts=1, q_lora_rank=2048, kv_lora_rank=512,
                        qk_nope_head_dim=192, qk_rope_head_dim=64, v_head_dim=256,
                        index_n_heads=32, index_head_dim=128, index_topk=2048,
                        mlp_layer_types=None, indexer_types=None, num_nextn_predict_layers=0,
                        index_topk_pattern=None, index_topk_freq=1, index_skip_topk_offset=2),
    # LongCat-Flash: two MLA + MLP sublayers per layer, a shortcut MoE with zero experts
    "longcat_flash": dict(tie_word_embeddings=False, attention_bias=False,
                          num_key_value_heads=None, q_lora_rank=1536, kv_lora_rank=512,
                          qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                          zero_expert_num=256, router_bias=False),
    # DeepSeek-V4 (DeepseekV4Config; its defaults are DeepSeek-V4-Flash's): compressed
    # attention, hyper-connections, hash-routed MoE layers (_deepseek_v4)
    "deepseek_v4": dict(tie_word_embeddings=False, num_key_value_heads=1, head_dim=512,
                        q_lora_rank=1024, sliding_window=128, o_groups=8, o_lora_rank=1024,
                        index_n_heads=64, index_head_dim=128, index_topk=512, hc_mult=4,
                        n_shared_experts=1, num_nextn_predict_layers=1, layer_types=None,
                        mlp_layer_types=None, compress_rates=None),
    # Kimi-Linear: Kimi Delta Attention + MLA (NoPE) over DeepSeek-V3's MoE
    "kimi_linear": dict(tie_word_embeddings=False, attention_bias=False, n_shared_experts=1,
                        q_lora_rank=None, kv_lora_rank=512, qk_nope_head_dim=128,
                        qk_rope_head_dim=64, v_head_dim=128, linear_head_dim=128,
                        linear_num_heads=32, linear_conv_kernel_dim=4, layer_types=None,
                        mlp_layer_types=None, first_k_dense_replace=1),
    # Ling 3.0 (BailingHybridConfig): KDA with full-rank gates + gated MLA over DeepSeek-V3's MoE
    "bailing_hybrid": dict(tie_word_embeddings=False, attention_bias=False, n_shared_experts=1,
                           num_key_value_heads=32, head_dim=128, q_lora_rank=None,
                           kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
                           v_head_dim=128, short_conv_kernel_size=4, layer_group_size=6,
                           layer_types=None, mlp_layer_types=None, first_k_dense_replace=2,
                           num_nextn_predict_layers=1, kda_safe_gate=True),
    # LFM3 (Lfm3Config): LFM2's short conv + gated attention, sliding layers, sandwich norms
    "lfm3": dict(num_key_value_heads=4, head_dim=128, tie_word_embeddings=True, conv_bias=False,
                 conv_L_cache=7, sliding_window=256, layer_types=None, use_sandwich_norm=True,
                 use_attention_gate=True, attention_bias=False),
    "cohere2_moe": dict(num_key_value_heads=None, head_dim=128, tie_word_embeddings=True,
                        attention_bias=False, sliding_window=4096, layer_types=None,
                        sliding_window_pattern=4, prefix_dense_sliding_window_pattern=1,
                        mlp_layer_types=None, num_shared_experts=0, first_k_dense_replace=0),
    # Qwen3.5 (hybrid: Gated DeltaNet + gated attention)
    "qwen3_5_text": dict(num_key_value_heads=4, head_dim=256, tie_word_embeddings=False,
                         attention_bias=False, linear_conv_kernel_dim=4, linear_key_head_dim=128,
                         linear_value_head_dim=128, linear_num_key_heads=16,
                         linear_num_value_heads=32),
    "qwen3_5_moe_text": dict(num_key_value_heads=2, head_dim=256, tie_word_embeddings=False,
                             attention_bias=False, linear_conv_kernel_dim=4,
                             linear_key_head_dim=128, linear_value_head_dim=128,
                             linear_num_key_heads=16, linear_num_value_heads=32),
    # families added for current configs
    "solar_open": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                       attention_bias=False, n_shared_experts=1),
    "sarvam_moe": dict(num_key_value_heads=4, head_dim=64, tie_word_embeddings=False,
                       attention_bias=False, first_k_dense_replace=1, n_shared_experts=1,
                       use_qk_norm=True, num_nextn_predict_layers=0),
    "afmoe": dict(num_key_value_heads=None, head_dim=128, tie_word_embeddings=False,
                  attention_bias=False, num_dense_layers=1, num_shared_experts=2,
                  sliding_window=1024, global_attn_every_n_layers=4, layer_types=None),
    "exaone": dict(num_key_value_heads=8, head_dim=None, tie_word_embeddings=False,
                   attention_bias=False, mlp_bias=False),
    "internlm3": dict(num_key_value_heads=2, head_dim=128, tie_word_embeddings=False,
                      attention_bias=False, mlp_bias=False),
    "iquestcoder": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                        attention_bias=False, mlp_bias=False),
    "hy_v3": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                  attention_bias=False, mlp_bias=False, num_shared_experts=1,
                  mlp_layer_types=None),
    "cwm": dict(num_key_value_heads=8, head_dim=128, tie_word_embeddings=False, mlp_bias=False,
                sliding_window=8192, layer_types=None),
    "nanochat": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False),
    "nemotron": dict(head_dim=None, tie_word_embeddings=False,
                     attention_bias=False, mlp_bias=False),
    "persimmon": dict(tie_word_embeddings=False, qk_layernorm=True),
    "stablelm": dict(num_key_value_heads=32, tie_word_embeddings=False, use_qkv_bias=False,
                     qk_layernorm=False, use_parallel_residual=False),
    "minicpm3": dict(num_key_value_heads=40, tie_word_embeddings=True, attention_bias=False,
                     mlp_bias=False, q_lora_rank=768, kv_lora_rank=256, qk_nope_head_dim=64,
                     qk_rope_head_dim=32, v_head_dim=None),
    "youtu": dict(num_key_value_heads=16, tie_word_embeddings=True, attention_bias=False,
                  q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
                  v_head_dim=128),
    "sarvam_mla": dict(tie_word_embeddings=False, attention_bias=False, first_k_dense_replace=1,
                       moe_layer_freq=1, n_shared_experts=1, q_lora_rank=None, kv_lora_rank=512,
                       qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                       num_nextn_predict_layers=0),
    "mpt": dict(tie_word_embeddings=True),
    "apertus": dict(num_key_value_heads=None, tie_word_embeddings=False, attention_bias=False),
    "apertus1p5_text": dict(num_key_value_heads=None, tie_word_embeddings=False,
                            attention_bias=False, output_vocab_size=None),
    "kolibri1": dict(num_key_value_heads=4, head_dim=128, tie_word_embeddings=False,
                     sliding_window=513, layer_types=None, shared_expert_intermediate_size=512),
    "flint": dict(num_key_value_heads=4, head_dim=128, tie_word_embeddings=False,
                  attention_bias=False, sliding_window=513, layer_types=None,
                  decoder_sparse_step=1, mlp_only_layers=None,
                  shared_expert_intermediate_size=1024),
    "opt": dict(tie_word_embeddings=True, word_embed_proj_dim=None, do_layer_norm_before=True,
                enable_bias=True, layer_norm_elementwise_affine=True),
    "mellum": dict(num_key_value_heads=4, head_dim=128, tie_word_embeddings=False,
                   attention_bias=False, sliding_window=1024, layer_types=None,
                   mlp_layer_types=None),
    "hyperclovax": dict(num_key_value_heads=None, head_dim=None, tie_word_embeddings=False,
                        attention_bias=False, mlp_bias=False, use_post_norm=True),
    "bloom": dict(tie_word_embeddings=True),
    "xglm": dict(tie_word_embeddings=True, add_cross_attention=False),
    "biogpt": dict(tie_word_embeddings=True),
    "bitnet": dict(num_key_value_heads=5, tie_word_embeddings=False, attention_bias=False),
    "gpt-sw3": dict(n_inner=None, tie_word_embeddings=True, add_cross_attention=False),
    "openai-gpt": dict(tie_word_embeddings=True),
    "ctrl": dict(tie_word_embeddings=True),
    "axk1": dict(tie_word_embeddings=False, attention_bias=False, n_shared_experts=1,
                 q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
                 v_head_dim=128, mlp_layer_types=None, first_k_dense_replace=1,
                 moe_layer_freq=1),
    # A.X-K2 (AXK2Config; its defaults are A.X-K2-Light's): DeepSeek-V3.2's MLA + DSA with
    # q_gate_proj, gated RMSNorms, ungrouped routing when n_group is null (_axk2)
    "axk2": dict(tie_word_embeddings=False, attention_bias=False, n_shared_experts=1,
                 q_lora_rank=384, kv_lora_rank=128, qk_nope_head_dim=64, qk_rope_head_dim=32,
                 v_head_dim=64, mlp_layer_types=None, first_k_dense_replace=1,
                 moe_layer_freq=1, index_n_heads=16, index_head_dim=128, index_topk=2048,
                 gated_norm_rank=16),
    # HY-V4 (HYV4Config; its defaults are Hy4-preview's): MLA + DSA with shared indexers, an
    # output gate, sinks, hyper-connections (_hy_v4)
    "hy_v4": dict(tie_word_embeddings=False, attention_bias=False, n_shared_experts=1,
                  q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=192, qk_rope_head_dim=64,
                  v_head_dim=256, mlp_layer_types=None, indexer_types=None, index_n_heads=16,
                  index_head_dim=128, index_topk=2048, hc_mult=4),
    # pure state-space models (issue #13): every layer a Mamba mixer, no attention, no FFN
    "mamba": dict(tie_word_embeddings=True, expand=2, state_size=16, conv_kernel=4,
                  time_step_rank="auto", use_bias=False, use_conv_bias=True),
    "falcon_mamba": dict(tie_word_embeddings=True, expand=2, state_size=16, conv_kernel=4,
                         time_step_rank="auto", use_bias=False, use_conv_bias=True),
    "mamba2": dict(tie_word_embeddings=False, expand=2, num_heads=128, head_dim=64, n_groups=8,
                   state_size=128, conv_kernel=4, use_bias=False, use_conv_bias=True),
    # OLMo-Hybrid: Gated DeltaNet + attention (its linear_* sizes derive: read in _olmo_hybrid)
    "olmo_hybrid": dict(tie_word_embeddings=False, attention_bias=False,
                        linear_conv_kernel_dim=4),
    # Lara-Mini: Qwen3.5's Gated DeltaNet + sliding/full attention, MoE in every layer
    "lara_mini": dict(num_key_value_heads=4, head_dim=128, tie_word_embeddings=True,
                      attention_bias=False, sliding_window=512, layer_types=None,
                      linear_conv_kernel_dim=4, linear_key_head_dim=128,
                      linear_value_head_dim=128, linear_num_key_heads=8,
                      linear_num_value_heads=16),
    # RecurrentGemma (Griffin): RG-LRU blocks + local MQA attention (lru_width None: h)
    "recurrent_gemma": dict(num_key_value_heads=None, tie_word_embeddings=True,
                            intermediate_size=7680, lru_width=None, attention_window_size=2048,
                            conv1d_width=4, attention_bias=False,
                            block_types=("recurrent", "recurrent", "attention")),
    # RWKV-4: time mix + channel mix (sizes None: derived from hidden_size)
    "rwkv": dict(tie_word_embeddings=False, attention_hidden_size=None, intermediate_size=None,
                 context_length=1024),
    # xLSTM (mLSTM blocks + gated FFN); embedding_dim / num_blocks None: hidden_size / layers
    "xlstm": dict(tie_word_embeddings=False, num_heads=8, use_bias=False, qk_dim_factor=0.5,
                  v_dim_factor=1.0, ffn_proj_factor=2.667, ffn_round_up_to_multiple_of=64,
                  embedding_dim=None, num_blocks=None),
}

#: Entries of :data:`DEFAULTS` that transformers' configuration classes do not have, with the
#: reference they come from (tests check that every other entry matches transformers).
DEFAULTS_NOT_IN_TRANSFORMERS: dict[tuple[str, str], str] = {
    ("deepseek_v2", "moe_layer_freq"): "DeepSeek's modeling_deepseek.py (DeepseekV2DecoderLayer): "
    "layer i is MoE iff i >= first_k_dense_replace and i % moe_layer_freq == 0; default 1. "
    "transformers 5.24 ignores the key (every published config has 1).",
    ("deepseek_v3", "moe_layer_freq"): "DeepSeek-V3's modeling_deepseek.py, same rule as V2.",
    ("sarvam_mla", "moe_layer_freq"): "DeepSeek-V3's rule (transformers builds "
    "DeepseekV3ForCausalLM for it).",
    ("gemma3_text", "sliding_window_pattern"): "Gemma3TextConfig.__post_init__ reads it from "
    "kwargs (default 6) to derive layer_types; not a declared field.",
    ("gemma4_text", "global_head_dim"): "Gemma4TextConfig.__post_init__ pops it from kwargs "
    "(default 512): the head dim of the full-attention layers; not a declared field.",
    ("gemma4_unified_text", "global_head_dim"): "Gemma4UnifiedTextConfig.__post_init__ pops it "
    "from kwargs (default 512), as Gemma-4's.",
    ("cohere2", "sliding_window_pattern"): "Cohere2Config.__post_init__ pops it from kwargs "
    "(default 4) to derive layer_types; not a declared field.",
    ("cohere2_moe", "first_k_dense_replace"): "Cohere2MoeConfig.__post_init__ pops it from "
    "kwargs (default 0) to derive mlp_layer_types and layer_types; not a declared field.",
    ("deepseek_v32", "num_nextn_predict_layers"): "DeepSeek-V3.2-Exp's config.json has 1 (the "
    "MTP layer 61 in the checkpoint); DeepseekV32Config has no field and transformers skips the "
    "layer's weights (_keys_to_ignore_on_load_unexpected). Absent: no MTP layer.",
    ("glm_moe_dsa", "num_nextn_predict_layers"): "GLM-5's config.json has 1 (its technical "
    "report, arXiv 2602.15763, Table: 1 MTP layer); GlmMoeDsaConfig has no field and "
    "transformers skips layer 78's weights (_keys_to_ignore_on_load_unexpected). Absent: none.",
    ("glm_moe_dsa", "index_topk_pattern"): "GlmMoeDsaConfig.__post_init__ reads it from kwargs "
    "(a string of F/S or a list) to derive indexer_types; not a declared field.",
    ("glm_moe_dsa", "index_topk_freq"): "GlmMoeDsaConfig.__post_init__ reads it from kwargs "
    "(default 1, floored at 1) to derive indexer_types; not a declared field.",
    ("glm_moe_dsa", "index_skip_topk_offset"): "GlmMoeDsaConfig.__post_init__ reads it from "
    "kwargs (default 2) to derive indexer_types; not a declared field.",
    ("longcat_flash", "router_bias"): "LongcatFlashTopkRouter reads getattr(config, "
    "'router_bias', False); LongcatFlashConfig declares no such field.",
    ("kimi_linear", "first_k_dense_replace"): "KimiLinearConfig.__post_init__ reads it from "
    "kwargs (default 1) to derive mlp_layer_types; the declared field is removed.",
    ("axk1", "first_k_dense_replace"): "AXK1Config.__post_init__ pops it from kwargs (default "
    "1) to derive mlp_layer_types; the declared field is removed.",
    ("axk1", "moe_layer_freq"): "AXK1Config.__post_init__ pops it from kwargs (default 1) to "
    "derive mlp_layer_types.",
    ("axk2", "first_k_dense_replace"): "AXK2Config.__post_init__ pops it from kwargs (default "
    "1) to derive mlp_layer_types; the declared field is removed.",
    ("axk2", "moe_layer_freq"): "AXK2Config.__post_init__ pops it from kwargs (default 1) to "
    "derive mlp_layer_types.",
}

#: Foreign names for the same field (transformers' ``attribute_map`` plus config.json variants).
#: The first name present in a config wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "num_experts": ("num_local_experts", "n_routed_experts", "moe_num_experts", "num_experts"),
    "num_experts_per_tok": ("num_experts_per_tok", "experts_per_token", "moe_top_k", "moe_k",
                            "moe_topk", "num_experts_per_token"),
    "num_nextn_predict_layers": ("num_nextn_predict_layers", "num_mtp_layers"),
    # DbrxConfig.attribute_map
    "d_model": ("d_model", "hidden_size"),
    "n_heads": ("n_heads", "num_attention_heads"),
    "n_layers": ("n_layers", "num_hidden_layers"),
    "max_seq_len": ("max_seq_len", "max_position_embeddings"),
    # JetMoeConfig.attribute_map
    "kv_channels": ("kv_channels", "head_dim"),
}


_LOCAL, _ROUTED, _PLAIN = ({"num_experts": n} for n in ("num_local_experts", "n_routed_experts",
                                                          "num_experts"))
#: What each family's transformers configuration class calls an aliased field (error messages
#: name a missing field the way the family's config.json would).
FIELD_NAMES: dict[str, dict[str, str]] = {
    **dict.fromkeys(("mixtral", "phimoe", "granitemoe", "gpt_oss", "llama4_text", "jetmoe"),
                    _LOCAL),
    **dict.fromkeys(("deepseek_v2", "deepseek_v3", "glm4_moe"), _ROUTED),
    **dict.fromkeys(("olmoe", "qwen2_moe", "qwen3_moe"), _PLAIN),
    "dbrx": {"num_experts": "moe_num_experts", "num_experts_per_tok": "moe_top_k"},
    **dict.fromkeys(("minimax_m2", "granitemoeshared", "granitemoe_swa"), _LOCAL),
    **dict.fromkeys(("dots1", "glm4_moe_lite"), _ROUTED),
    **dict.fromkeys(("flex_olmo", "exaone_moe"), _PLAIN),
    "ernie4_5_moe": {"num_experts": "moe_num_experts", "num_experts_per_tok": "moe_k"},
    "hunyuan_v1_moe": {"num_experts": "num_experts", "num_experts_per_tok": "moe_topk"},
    "aria_text": {"num_experts": "moe_num_experts", "num_experts_per_tok": "moe_topk"},
    "cohere2_moe": _PLAIN,
    **dict.fromkeys(("qwen3_next", "lfm2_moe", "jamba"), _PLAIN),
    **dict.fromkeys(("granitemoehybrid", "minimax"), _LOCAL),
    "nemotron_h": _ROUTED,
    "qwen3_5_moe_text": _PLAIN,
    **dict.fromkeys(("solar_open", "sarvam_moe", "sarvam_mla"), _ROUTED),
    **dict.fromkeys(("afmoe", "hy_v3", "mellum", "flint"), _PLAIN), "kolibri1": _LOCAL,
    "deepseek_v32": _ROUTED, "glm_moe_dsa": _ROUTED, "deepseek_v4": _ROUTED,
    "longcat_flash": {"num_experts": "n_routed_experts", "num_experts_per_tok": "moe_topk"},
    "kimi_linear": {"num_experts": "num_experts", "num_experts_per_tok": "num_experts_per_token"},
    "bailing_hybrid": {"num_experts": "num_experts",
                       "num_experts_per_tok": "num_experts_per_token"},
    "axk1": _ROUTED, "axk2": _ROUTED, "hy_v4": _ROUTED,
    "lara_mini": _PLAIN,
    "mimo_v2_flash": _ROUTED, "laguna": _PLAIN,
}


class _Reader:
    """Reads one family's config dict: required fields raise, optional ones take DEFAULTS."""

    def __init__(self, cfg: Mapping[str, Any], model_type: str, where: str = "",
                 defaults: Mapping[str, Any] | None = None):
        self.cfg = cfg
        self.model_type = model_type
        self.defaults = DEFAULTS.get(model_type, {}) if defaults is None else defaults
        self.where = where

    def _lookup(self, key: str) -> tuple[bool, Any]:
        for name in ALIASES.get(key, (key,)):
            if name in self.cfg:
                return True, self.cfg[name]
        return False, None

    def name_of(self, key: str) -> str:
        """The name ``key`` has in this config (its first alias present), for error messages."""
        for name in ALIASES.get(key, (key,)):
            if name in self.cfg:
                return self.where + name
        return self.where + FIELD_NAMES.get(self.model_type, {}).get(key, key)

    def req(self, key: str) -> Any:
        found, value = self._lookup(key)
        if not found or value is None:
            name = self.name_of(key)
            others = [n for n in ALIASES.get(key, ()) if self.where + n != name]
            also = f" (also read as {', '.join(others)})" if others else ""
            raise EstimatorError(name, None if not found else value,
                                 f"required for model_type '{self.model_type}' but "
                                 f"{'missing' if not found else 'null'}{also}")
        return value

    def opt(self, key: str) -> Any:
        found, value = self._lookup(key)
        if found:
            return value
        if key not in self.defaults:  # a programming error, not bad input
            raise KeyError(f"no default for {key!r} in DEFAULTS[{self.model_type!r}]")
        return self.defaults[key]

    def flag(self, key: str) -> bool:
        v = self.opt(key)
        if not isinstance(v, bool):
            raise EstimatorError(self.name_of(key), v, "must be true or false")
        return v

    def int(self, key: str, minimum: int = 1) -> int:
        """A required integer field, validated before any arithmetic uses it."""
        return check_int(self.name_of(key), self.req(key), minimum)

    def opt_int(self, key: str, minimum: int = 0, allow_none: bool = False) -> int | None:
        v = self.opt(key)
        if v is None and allow_none:
            return None
        return check_int(self.name_of(key), v, minimum)


def _layer_list(name: str, value: Any, L: int) -> tuple[int, ...]:
    """A list of layer indices, each an int in [0, L)."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise EstimatorError(name, value, "must be a list of layer indices")
    for i in value:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < L:
            raise EstimatorError(name, i, f"layer index must be an integer in [0, {L})")
    return tuple(value)


def _layer_types(r: _Reader, L: int) -> list | None:
    lt = r.cfg.get("layer_types", r.defaults.get("layer_types"))
    if lt is None:
        return None
    if not isinstance(lt, (list, tuple)) or len(lt) != L:
        raise EstimatorError(r.where + "layer_types", lt, f"must be a list of {L} layer kinds")
    return list(lt)


def _window(r: _Reader, key: str = "sliding_window") -> int | None:
    """A window size or None; 0 and null both mean "no window" (transformers' own convention)."""
    w = r.opt(key)
    if w is None or w == 0:
        return None
    return check_int(r.where + key, w, 1, MAX_CONTEXT)


def _common(r: _Reader, name: str) -> dict[str, Any]:
    L = r.int("num_hidden_layers")
    h = r.int("hidden_size")
    a = r.int("num_attention_heads")
    g = r.cfg.get("num_key_value_heads")
    if g is None:  # absent → the class default; null → num_attention_heads (transformers)
        g = r.defaults.get("num_key_value_heads") if "num_key_value_heads" not in r.cfg else None
    if g is None:
        g = a
    hd = r.cfg.get("head_dim", r.defaults.get("head_dim"))
    if hd is not None:  # explicit: must be a real size (0 would mean "derive" to ModelSpec)
        hd = check_int(r.where + "head_dim", hd, 1)
    return dict(name=name, model_type=r.model_type, num_hidden_layers=L,
                hidden_size=h, vocab_size=r.int("vocab_size"), num_attention_heads=a,
                num_key_value_heads=g, head_dim=0 if hd is None else hd,
                tie_word_embeddings=r.flag("tie_word_embeddings"),
                max_position_embeddings=r.cfg.get("max_position_embeddings"))


def _all_layers_sliding(r: _Reader, L: int) -> dict[str, Any]:
    """Mistral, Mixtral, PhiMoE: one window for every layer when ``sliding_window`` is set."""
    w = _window(r)
    return dict(sliding_window=w, sliding_window_layers=tuple(range(L))) if w else {}


def _qwen_sliding(r: _Reader, L: int) -> dict[str, Any]:
    """Qwen2/Qwen3 (``configuration_qwen2.py``): the window is ``sliding_window`` only if
    ``use_sliding_window``; a layer uses it iff its ``layer_types`` entry is
    ``"sliding_attention"``, by default the layers ``i >= max_window_layers``."""
    w = _window(r) if r.flag("use_sliding_window") else None
    lt = _layer_types(r, L)
    if w is None:
        return {}
    if lt is not None:
        layers = tuple(i for i, t in enumerate(lt) if t == "sliding_attention")
    else:
        layers = tuple(range(r.opt_int("max_window_layers", 0), L))
    return dict(sliding_window=w, sliding_window_layers=layers) if layers else {}


def _qwen2_moe_sliding(r: _Reader, L: int) -> dict[str, Any]:
    """Qwen2-MoE (``configuration_qwen2_moe.py``): like Qwen2, but the default ``layer_types``
    slide on even layers below ``max_window_layers``."""
    w = _window(r) if r.flag("use_sliding_window") else None
    if w is None:
        return {}
    lt = _layer_types(r, L)
    if lt is not None:
        layers = tuple(i for i, t in enumerate(lt) if t == "sliding_attention")
    else:
        mwl = r.opt_int("max_window_layers", 0)
        layers = tuple(i for i in range(L) if i % 2 == 0 and i < mwl)
    return dict(sliding_window=w, sliding_window_layers=layers) if layers else {}


def _qwen3_moe_sliding(r: _Reader, L: int) -> dict[str, Any]:
    """Qwen3-MoE: every layer slides when ``use_sliding_window`` (no ``layer_types``)."""
    w = _window(r) if r.flag("use_sliding_window") else None
    return dict(sliding_window=w, sliding_window_layers=tuple(range(L))) if w else {}


# ----------------------------------------------------------------------------------------------
# families
# ----------------------------------------------------------------------------------------------

def _llama(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab, ffn_bias=r.flag("mlp_bias"))


def _mistral(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"),
                     **_all_layers_sliding(r, c["num_hidden_layers"]))


def _qwen2(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"), attention_bias=True,
                     **_qwen_sliding(r, c["num_hidden_layers"]))


def _qwen3(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab, qk_norm="head",
                     **_qwen_sliding(r, c["num_hidden_layers"]))


def _gemma(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.req("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab)


def _moe_fields(r: _Reader, layers: tuple[int, ...], width_key: str) -> dict[str, Any]:
    """Routed-expert fields, validated here so errors name the config's own keys."""
    E = r.int("num_experts")
    k = r.int("num_experts_per_tok")
    if k > E:
        raise EstimatorError(r.name_of("num_experts_per_tok"), k,
                             f"must not exceed {r.name_of('num_experts')}={E}")
    return dict(num_experts=E, num_experts_per_tok=k, moe_intermediate_size=r.int(width_key),
                moe_layers=layers)


def _mixtral(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    return ModelSpec(**c, **_moe_fields(r, tuple(range(L)), "intermediate_size"),
                     **_all_layers_sliding(r, L))


def _phimoe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, tuple(range(L)), "intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab, norm_type="layernorm",
                     norm_bias=True, lm_head_bias=r.flag("lm_head_bias"),
                     **_all_layers_sliding(r, L))


def _granitemoe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, tuple(range(L)), "intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab)


def _olmoe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    h, a = c["hidden_size"], c["num_attention_heads"]
    # OlmoeAttention sizes q_norm as hidden_size and k_norm as (hidden_size // heads) * kv_heads,
    # so it only works when head_dim == hidden_size / heads.
    if c["head_dim"] and (h % a or c["head_dim"] != h // a):
        raise EstimatorError("head_dim", c["head_dim"],
                             f"OLMoE needs head_dim == hidden_size / num_attention_heads "
                             f"({h}/{a}); its q/k norms are sized from hidden_size")
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, tuple(range(L)), "intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab, qk_norm="full")


def _qwen_moe_layers(r: _Reader, L: int, E: int) -> tuple[int, ...]:
    """Qwen2/3-MoE (``Qwen2MoeDecoderLayer``): layer i is sparse iff i ∉ mlp_only_layers,
    num_experts > 0 and (i+1) % decoder_sparse_step == 0."""
    step = r.opt_int("decoder_sparse_step", 1)
    only = set(_layer_list("mlp_only_layers", r.opt("mlp_only_layers"), L))
    if E == 0:
        return ()
    return tuple(i for i in range(L) if i not in only and (i + 1) % step == 0)


def _qwen_moe_common(r: _Reader, c: dict[str, Any]) -> dict[str, Any]:
    L = c["num_hidden_layers"]
    E = r.int("num_experts", 0)  # 0 → a dense model (Qwen2MoeDecoderLayer checks E > 0)
    layers = _qwen_moe_layers(r, L, E)
    dense_f = r.req("intermediate_size") if len(layers) < L else r.cfg.get("intermediate_size")
    moe = (_moe_fields(r, layers, "moe_intermediate_size") if E else
           dict(num_experts=0, num_experts_per_tok=0, moe_intermediate_size=0, moe_layers=()))
    return dict(**moe, intermediate_size=dense_f or 0)


def _qwen2_moe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    moe = _qwen_moe_common(r, c)
    f_sh = r.int("shared_expert_intermediate_size", 0) if moe["moe_layers"] else 0
    # Qwen2MoeSparseMoeBlock always has shared_expert (width f_sh) and shared_expert_gate (h → 1).
    return ModelSpec(**c, **moe, attention_bias=r.flag("qkv_bias"),
                     num_shared_experts=1 if f_sh else 0, shared_expert_intermediate_size=f_sh,
                     shared_expert_gate=bool(moe["moe_layers"]), **_qwen2_moe_sliding(r, L))


def _qwen3_moe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    L = c["num_hidden_layers"]
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_qwen_moe_common(r, c), attention_bias=ab, attention_out_bias=ab,
                     qk_norm="head", **_qwen3_moe_sliding(r, L))


def _deepseek(r: _Reader, name: str, v3: bool,
              layers: Callable[[_Reader, int], tuple[int, ...]] | None = None,
              mtp: bool = True) -> ModelSpec:
    """DeepSeek-V2/V3 (``modeling_deepseek_v3.py``; DeepSeek's own ``modeling_deepseek.py``).

    Layer i is MoE iff ``i >= first_k_dense_replace`` and ``i % moe_layer_freq == 0`` (DeepSeek's
    reference code; transformers 5.24 ignores ``moe_layer_freq``, which is 1 in every published
    config). MLA has no K/V head grouping: after decompression every query head has its own K
    and V, so ``num_key_value_heads`` is set to ``num_attention_heads``.
    """
    c = _common(r, name)
    c["num_key_value_heads"] = c["num_attention_heads"]
    L = c["num_hidden_layers"]
    if layers is None:
        first = r.opt_int("first_k_dense_replace", 0)
        freq = r.opt_int("moe_layer_freq", 1)
        moe_layers = tuple(i for i in range(L) if i >= first and i % freq == 0)
    else:
        moe_layers = layers(r, L)
    layers = moe_layers
    moe = _moe_fields(r, layers, "moe_intermediate_size")
    n_sh = r.opt_int("n_shared_experts", 0, allow_none=True) or 0
    f_e = moe["moe_intermediate_size"]
    mla = MLA(q_lora_rank=r.opt("q_lora_rank"), kv_lora_rank=r.opt("kv_lora_rank"),
              qk_nope_head_dim=r.opt("qk_nope_head_dim"),
              qk_rope_head_dim=r.opt("qk_rope_head_dim"), v_head_dim=r.opt("v_head_dim"))
    ab = r.flag("attention_bias")
    mlp_bias = False if v3 else r.flag("mlp_bias")  # V2's MLP class honours mlp_bias; V3's not
    c["head_dim"] = mla.v_head_dim  # unused by MLA counts; keeps validation meaningful
    return ModelSpec(**c, **moe,
                     intermediate_size=r.req("intermediate_size") if len(layers) < L else 0,
                     ffn_bias=mlp_bias, shared_expert_bias=mlp_bias,
                     num_shared_experts=n_sh, shared_expert_intermediate_size=n_sh * f_e,
                     mla=mla, attention_bias=ab, attention_out_bias=ab,
                     router_score_correction_bias=v3,
                     num_mtp_layers=r.opt("num_nextn_predict_layers") if v3 and mtp else 0)


def _glm4_moe(r: _Reader, name: str) -> ModelSpec:
    c = _common(r, name)
    if "head_dim" not in r.cfg and r.defaults.get("head_dim") is None \
            and c["hidden_size"] >= c["num_attention_heads"]:
        # Glm4MoeAttention: getattr(config, "head_dim", hidden_size // num_attention_heads) —
        # absent, the floor of h / a even when a does not divide h (the default config: 4096 /
        # 96 → 42, q_proj 4096 → 4032); an explicit null fails in transformers
        c["head_dim"] = c["hidden_size"] // c["num_attention_heads"]
    L = c["num_hidden_layers"]
    first = r.opt_int("first_k_dense_replace", 0)
    layers = tuple(range(first, L))
    n_sh = r.opt_int("n_shared_experts", 0)
    f_e = r.int("moe_intermediate_size")
    return ModelSpec(**c, **_moe_fields(r, layers, "moe_intermediate_size"),
                     intermediate_size=r.req("intermediate_size") if first else 0,
                     num_shared_experts=n_sh, shared_expert_intermediate_size=n_sh * f_e,
                     attention_bias=r.flag("attention_bias"),
                     qk_norm="head" if r.flag("use_qk_norm") else "none",
                     router_score_correction_bias=True,
                     num_mtp_layers=r.opt("num_nextn_predict_layers"))


def _gpt_oss(r: _Reader, name: str) -> ModelSpec:
    """gpt-oss: ``layer_types`` default alternates sliding/full, starting with sliding."""
    c = _common(r, name)
    L = c["num_hidden_layers"]
    w = _window(r)
    lt = _layer_types(r, L)
    if lt is None:
        lt = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(L)]
    layers = tuple(i for i, t in enumerate(lt) if t == "sliding_attention") if w else ()
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, tuple(range(L)), "intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab, attention_sinks=True,
                     router_bias=True, expert_bias=True,
                     sliding_window=w if layers else None, sliding_window_layers=layers)


def _llama4_text(r: _Reader, name: str) -> ModelSpec:
    """Llama-4 text model (``configuration_llama4.py::Llama4TextConfig.__post_init__``)."""
    c = _common(r, name)
    L = c["num_hidden_layers"]
    step = r.opt_int("interleave_moe_layer_step", 1)
    layers = r.opt("moe_layers")
    if layers is None:
        layers = list(range(step - 1, L, step))
    layers = _layer_list(r.where + "moe_layers", layers, L)
    moe = _moe_fields(r, layers, "intermediate_size")
    f = moe["moe_intermediate_size"]
    # Chunked attention (layers with RoPE) never looks further back than attention_chunk_size,
    # so its cache is capped like a sliding window (transformers' ChunkedSlidingLayer).
    chunk = _window(r, "attention_chunk_size")
    lt = _layer_types(r, L)
    if lt is not None:
        chunked = tuple(i for i, t in enumerate(lt) if t == "chunked_attention")
    else:
        nrl = r.opt("no_rope_layers")
        if not nrl:
            interval = r.opt_int("no_rope_layer_interval", 1)
            nrl = [int((i + 1) % interval != 0) for i in range(L)]
        if not isinstance(nrl, (list, tuple)) or len(nrl) != L:
            raise EstimatorError(r.where + "no_rope_layers", nrl, f"must be a list of {L} flags")
        chunked = tuple(i for i in range(L) if nrl[i])
    chunked = chunked if chunk else ()
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **moe,
                     intermediate_size=r.req("intermediate_size_mlp") if len(layers) < L else 0,
                     num_shared_experts=1, shared_expert_intermediate_size=f,
                     attention_bias=ab, attention_out_bias=ab,
                     sliding_window=chunk if chunked else None,
                     sliding_window_layers=chunked,
                     notes=("qk norm is a parameter-free L2 norm",
                            "chunked-attention layers are listed as sliding_window_layers"))


def _dbrx(r: _Reader, name: str) -> ModelSpec:
    attn = r.cfg.get("attn_config") or {}
    ffn = r.cfg.get("ffn_config")
    if not isinstance(attn, Mapping):
        raise EstimatorError("attn_config", attn, "must be a mapping")
    if not isinstance(ffn, Mapping):
        raise EstimatorError("ffn_config", ffn, "required for model_type 'dbrx' (a mapping)")
    if r.flag("tie_word_embeddings"):  # DbrxConfig.validate_architecture refuses it too
        raise EstimatorError("tie_word_embeddings", True, "DBRX does not support tied embeddings")
    L = r.int("n_layers")
    fr = _Reader(ffn, "dbrx", where="ffn_config.")
    ar = _Reader(attn, "dbrx", where="attn_config.")
    return ModelSpec(name=name, model_type="dbrx", num_hidden_layers=L,
                     hidden_size=r.int("d_model"), vocab_size=r.int("vocab_size"),
                     num_attention_heads=r.int("n_heads"), num_key_value_heads=ar.opt("kv_n_heads"),
                     norm_type="layernorm", fused_qkv=True,
                     **_moe_fields(fr, tuple(range(L)), "ffn_hidden_size"),
                     max_position_embeddings=r.cfg.get("max_seq_len"))


def _jetmoe(r: _Reader, name: str) -> ModelSpec:
    """JetMoE: ``num_attention_heads`` is derived as ``num_experts_per_tok · num_key_value_heads``
    (``JetMoeConfig.__post_init__``); a value in the file is ignored, as transformers does."""
    L = r.int("num_hidden_layers")
    moe = _moe_fields(r, tuple(range(L)), "intermediate_size")
    E, k = moe["num_experts"], moe["num_experts_per_tok"]
    g = r.opt_int("num_key_value_heads", 1)
    return ModelSpec(name=name, model_type="jetmoe", num_hidden_layers=L,
                     hidden_size=r.req("hidden_size"), vocab_size=r.req("vocab_size"),
                     num_attention_heads=k * g, num_key_value_heads=g,
                     head_dim=r.opt_int("kv_channels", 1),
                     tie_word_embeddings=r.flag("tie_word_embeddings"),
                     moa=MoA(num_experts=E, top_k=k), **moe, moe_output_bias=True,
                     max_position_embeddings=r.cfg.get("max_position_embeddings"),
                     notes=("attention is a mixture of top-k attention experts (MoA)",))


def _gpt2(r: _Reader, name: str) -> ModelSpec:
    """GPT-2 (``modeling_gpt2.py``): learned absolute positions ``wpe`` (``n_positions`` rows),
    fused ``c_attn`` (h → 3h) and ``c_proj`` with biases (MHA, ``head_dim = n_embd / n_head``),
    LayerNorms with bias, a plain MLP ``c_fc``/``c_proj`` of width ``n_inner`` (None → 4h) with
    biases, ``ln_f``; the lm_head tied by default. ``add_cross_attention`` (a seq2seq decoder)
    is refused. GPTBigCode (StarCoder-1, SantaCoder; ``modeling_gpt_bigcode.py``) is the same
    block whose ``c_attn`` is h → h + 2·d with ``multi_query`` (one K/V head, the default)."""
    if r.flag("add_cross_attention"):
        raise EstimatorError("add_cross_attention", True, "cross-attention decoders are out of "
                             "scope (the estimator models decoder-only LLMs)")
    L, h, a, P = (r.int(k) for k in ("n_layer", "n_embd", "n_head", "n_positions"))
    check_int("n_positions", P, 1, MAX_CONTEXT)
    if h % a:  # GPT2Attention refuses it
        raise EstimatorError("n_head", a, f"must divide n_embd={h}")
    f = r.opt_int("n_inner", 1, allow_none=True)
    g = 1 if r.model_type == "gpt_bigcode" and r.flag("multi_query") else a
    return ModelSpec(name=name, model_type=r.model_type, num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=g, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, attention_bias=True,
                     attention_out_bias=True, fused_qkv=True,
                     intermediate_size=4 * h if f is None else f, gated_ffn=False,
                     ffn_bias=True, position_embeddings=P, max_position_embeddings=P)


def _gpt_neo(r: _Reader, name: str) -> ModelSpec:
    """GPT-Neo (``modeling_gpt_neo.py``): GPT-2's layout with learned positions ``wpe``
    (``max_position_embeddings`` rows), q/k/v without bias and ``out_proj`` with one, a plain
    MLP ``c_fc``/``c_proj`` of width ``intermediate_size`` (None → 4h) with biases, LayerNorms
    with bias, the lm_head tied by default. Its "local" layers (``attention_types``) restrict
    attention to ``window_size`` tokens with a mask only: the score matrix is the full square
    and transformers' cache keeps every token, so no layer is counted as sliding."""
    L, h, a, P = (r.int(k) for k in ("num_layers", "hidden_size", "num_heads",
                                     "max_position_embeddings"))
    check_int("max_position_embeddings", P, 1, MAX_CONTEXT)
    r.req("attention_types")  # GPTNeoConfig cannot build without it (no parameters depend on it)
    if h % a:  # GPTNeoSelfAttention refuses it
        raise EstimatorError("num_heads", a, f"must divide hidden_size={h}")
    f = r.opt_int("intermediate_size", 1, allow_none=True)
    return ModelSpec(name=name, model_type="gpt_neo", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, attention_out_bias=True,
                     intermediate_size=4 * h if f is None else f, gated_ffn=False,
                     ffn_bias=True, position_embeddings=P, max_position_embeddings=P,
                     notes=("local-attention layers are masked, not windowed: full square "
                            "scores and a full cache, as transformers runs them",))


def _gptj(r: _Reader, name: str) -> ModelSpec:
    """GPT-J (``modeling_gptj.py``) and CodeGen (``modeling_codegen.py``, the same counts with a
    fused ``qkv_proj``): attention and MLP in parallel after one LayerNorm (``ln_1``, with
    bias); q/k/v/out projections without bias (MHA, ``head_dim = n_embd / n_head``); a plain
    MLP ``fc_in``/``fc_out`` of width ``n_inner`` (None → 4h) with biases; ``ln_f``; an
    untied-by-default lm_head *with* a bias. Partial RoPE (``rotary_dim``) has no
    parameters."""
    L, h, a = (r.int(k) for k in ("n_layer", "n_embd", "n_head"))
    if h % a:
        raise EstimatorError("n_head", a, f"must divide n_embd={h}")
    f = r.opt_int("n_inner", 1, allow_none=True)
    return ModelSpec(name=name, model_type=r.model_type, num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, norms_per_layer=1,
                     fused_qkv=r.model_type == "codegen", lm_head_bias=True,
                     intermediate_size=4 * h if f is None else f, gated_ffn=False,
                     ffn_bias=True, max_position_embeddings=r.cfg.get("n_positions"))


def _falcon(r: _Reader, name: str) -> ModelSpec:
    """Falcon (``modeling_falcon.py``): one fused ``query_key_value`` and ``dense`` (biases with
    ``bias``), a plain GELU MLP ``ffn_hidden_size`` wide (None → 4h), LayerNorms with bias, the
    lm_head tied by default; ``head_dim = hidden_size / num_attention_heads``.

    K/V heads: ``new_decoder_architecture`` (Falcon-40B/180B) → ``num_kv_heads`` (None → all);
    else ``multi_query`` → 1, else every head. Norms per layer: sequential blocks 2; parallel
    attention+MLP (``parallel_attn``) ``num_ln_in_parallel_attn`` (None → 2 with the new
    architecture, else 1). ALiBi (``alibi``) has no parameters. transformers' new-architecture
    attention broadcasts K/V to every query head *before* caching them; the estimate keeps the
    engines' cache of ``num_kv_heads`` (tests/test_memory_inference.py checks the ratio).
    """
    L, h, a = (r.int(k) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads"))
    if h % a:  # FalconAttention refuses it
        raise EstimatorError("num_attention_heads", a, f"must divide hidden_size={h}")
    new = r.flag("new_decoder_architecture")
    if new:
        g = r.opt_int("num_kv_heads", 1, allow_none=True) or a
    else:
        g = 1 if r.flag("multi_query") else a
    n_ln = r.opt_int("num_ln_in_parallel_attn", 1, allow_none=True)
    if n_ln is None:
        n_ln = 2 if new else 1
    norms = n_ln if r.flag("parallel_attn") else 2
    f = r.opt_int("ffn_hidden_size", 1, allow_none=True)
    b = r.flag("bias")
    notes = ("ALiBi position biases (no parameters)",) if r.flag("alibi") else ()
    return ModelSpec(name=name, model_type="falcon", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=g, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, norms_per_layer=norms,
                     attention_bias=b, attention_out_bias=b, fused_qkv=True,
                     intermediate_size=4 * h if f is None else f, gated_ffn=False, ffn_bias=b,
                     max_position_embeddings=r.cfg.get("max_position_embeddings"), notes=notes)


# ----------------------------------------------------------------------------------------------
# the family table: families that differ from Llama only in data
# ----------------------------------------------------------------------------------------------

def _every_layer(r: _Reader, L: int) -> tuple[int, ...]:
    return tuple(range(L))


def _after_first_k_dense(r: _Reader, L: int) -> tuple[int, ...]:
    """Layer i is MoE iff ``i >= first_k_dense_replace`` (``modeling_dots1.Dots1DecoderLayer``)."""
    return tuple(range(r.opt_int("first_k_dense_replace", 0), L))


def _ernie_moe_layers(r: _Reader, L: int) -> tuple[int, ...]:
    """ERNIE-4.5-MoE (``Ernie4_5_MoeDecoderLayer``): layer i is MoE iff
    ``(i+1) % moe_layer_interval == 0`` and ``moe_layer_start_index <= i <= moe_layer_end_index``
    (``-1`` → the last layer, ``Ernie4_5_MoeConfig.__post_init__``)."""
    step = r.opt_int("moe_layer_interval", 1)
    start = r.opt_int("moe_layer_start_index", 0)
    end = r.opt("moe_layer_end_index")
    end = L - 1 if end == -1 else check_int(r.where + "moe_layer_end_index", end, 0)
    return tuple(i for i in range(L) if (i + 1) % step == 0 and start <= i <= end)


def _sparse_mlp_layer_types(default_dense: Callable[[_Reader], int]):
    """Layer i is MoE iff ``mlp_layer_types[i] == "sparse"``; absent, the first
    ``default_dense(r)`` layers are dense (EXAONE-MoE: ``first_k_dense_replace``; GLM-4.7-Flash:
    one)."""
    def rule(r: _Reader, L: int) -> tuple[int, ...]:
        lt = r.cfg.get("mlp_layer_types")
        if lt is None:
            return tuple(range(min(default_dense(r), L), L))
        if not isinstance(lt, (list, tuple)) or len(lt) != L:
            raise EstimatorError(r.where + "mlp_layer_types", lt,
                                 f"must be a list of {L} 'dense'/'sparse' entries")
        return tuple(i for i, t in enumerate(lt) if t == "sparse")
    return rule


def _shared_times_expert(count_key: str):
    """``count_key`` shared experts fused into one MLP of ``count · moe_intermediate_size``."""
    def rule(r: _Reader, f_e: int) -> tuple[int, int]:
        n = r.opt_int(count_key, 0)
        return n, n * f_e
    return rule


def _shared_of_width(width_key: str):
    """One shared MLP of width ``width_key`` (0 → none: GraniteMoeShared builds no module)."""
    def rule(r: _Reader, f_e: int) -> tuple[int, int]:  # noqa: ARG001
        w = r.opt_int(width_key, 0)
        return (1 if w else 0), w
    return rule


def _smollm3_sliding(r: _Reader, L: int) -> dict[str, Any]:
    """SmolLM3 (``configuration_smollm3.py``, ``modeling_smollm3.SmolLM3Attention``): a layer
    slides iff ``use_sliding_window``, a window is set and its ``layer_types`` entry is
    ``"sliding_attention"``; the default ``layer_types`` slide on the NoPE layers
    (``no_rope_layers[i] == 0``; by default every ``no_rope_layer_interval``-th layer)."""
    if not r.flag("use_sliding_window"):
        return {}
    nrl = r.opt("no_rope_layers")
    if nrl is None:
        interval = r.opt_int("no_rope_layer_interval", 1)
        nrl = [int((i + 1) % interval != 0) for i in range(L)]
    if not isinstance(nrl, (list, tuple)) or len(nrl) != L:
        raise EstimatorError(r.where + "no_rope_layers", nrl, f"must be a list of {L} flags")
    return _sliding_by_layer_types(lambda r, i, L: not nrl[i])(r, L)


def _cohere2_moe_sliding_default(r: _Reader, i: int, L: int) -> bool:  # noqa: ARG001
    """Cohere2-MoE's default ``layer_types`` (``Cohere2MoeConfig.__post_init__``): the first
    ``first_k_dense_replace`` (dense) layers slide unless ``(i+1) %
    prefix_dense_sliding_window_pattern == 0``; the rest restart the count with
    ``sliding_window_pattern``."""
    k = r.opt_int("first_k_dense_replace", 0)
    if i < k:
        return (i + 1) % r.opt_int("prefix_dense_sliding_window_pattern", 1) != 0
    return (i - k + 1) % r.opt_int("sliding_window_pattern", 1) != 0


def _sliding_by_layer_types(default: Callable[[_Reader, int, int], bool]):
    """Sliding layers are those whose ``layer_types`` entry is ``"sliding_attention"``; without
    ``layer_types``, ``default(r, i, L)`` says which (the family's ``__post_init__``). No window
    (``sliding_window`` null or 0) → no sliding layer."""
    def rule(r: _Reader, L: int) -> dict[str, Any]:
        w = _window(r)
        if w is None:
            return {}
        lt = _layer_types(r, L)
        layers = (tuple(i for i, t in enumerate(lt) if t == "sliding_attention") if lt is not None
                  else tuple(i for i in range(L) if default(r, i, L)))
        return dict(sliding_window=w, sliding_window_layers=layers) if layers else {}
    return rule


@dataclass(frozen=True)
class Family:
    """One transformers family as data, read by :func:`_from_table` (a Llama-shaped block:
    attention, then a dense or MoE FFN, pre-norms; the differences are fields).

    ``dense_width``/``expert_width``: the config keys of the dense-FFN and routed-expert widths.
    ``moe_layers``: which layers are MoE (``None`` → a dense family). ``shared``: ``(count,
    total width)`` of the shared experts from the reader and ``f_e``. ``bias``: spec bias field →
    the config flag that sets it. ``sliding``: the sliding-window rule. ``fixed``: spec fields the
    family always has (its quirks). ``required``: keys the family needs though transformers
    defaults them (its modeling code fails without them).
    """

    dense_width: str = "intermediate_size"
    expert_width: str = "moe_intermediate_size"
    moe_layers: Callable[[_Reader, int], tuple[int, ...]] | None = None
    shared: Callable[[_Reader, int], tuple[int, int]] | None = None
    bias: Mapping[str, str] = field(default_factory=dict)
    sliding: Callable[[_Reader, int], dict[str, Any]] | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    mha: bool = False  # K/V heads = query heads, head_dim = h/a, whatever the config says
    # o_proj is Linear(hidden_size, hidden_size) (Helium): only a·head_dim == hidden_size runs
    o_proj_from_hidden: bool = False
    # (config flag, qk_norm kind): q/k norms when the flag is true (Cohere, Phi)
    qk_norm_flag: tuple[str, str] | None = None


def _from_table(r: _Reader, name: str, fam: Family) -> ModelSpec:
    for key in fam.required:
        r.req(key)
    c = _common(r, name)
    if fam.qk_norm_flag is not None and r.flag(fam.qk_norm_flag[0]):
        c["qk_norm"] = fam.qk_norm_flag[1]
    if fam.mha:
        c.update(num_key_value_heads=c["num_attention_heads"], head_dim=0)
    if fam.o_proj_from_hidden and c["head_dim"] \
            and c["head_dim"] * c["num_attention_heads"] != c["hidden_size"]:
        raise EstimatorError(r.where + "head_dim", c["head_dim"],
                             f"{r.model_type} needs num_attention_heads x head_dim == hidden_size "
                             f"({c['hidden_size']}): its o_proj is sized from hidden_size")
    L = c["num_hidden_layers"]
    kw: dict[str, Any] = {f: r.flag(key) for f, key in fam.bias.items()}
    if fam.moe_layers is not None:
        layers = fam.moe_layers(r, L)
        kw.update(_moe_fields(r, layers, fam.expert_width))
        if fam.shared is not None and layers:
            n, w = fam.shared(r, kw["moe_intermediate_size"])
            kw.update(num_shared_experts=n, shared_expert_intermediate_size=w)
        dense = len(layers) < L
    else:
        dense = True
    kw["intermediate_size"] = r.int(fam.dense_width) if dense else 0
    if fam.sliding is not None:
        kw.update(fam.sliding(r, L))
    return ModelSpec(**c, **kw, **fam.fixed, notes=fam.notes)


_ALL_BIAS = ("attention_bias", "attention_out_bias")

#: Families read by :func:`_from_table`. Sources: each family's ``modeling_*.py`` in transformers
#: 5.24; the exactness tests build every one of them (tests/family_configs.py).
TABLE: dict[str, Family] = {
    # ERNIE-4.5 MoE: ``use_bias`` on attention, MLPs and lm_head (not the experts); the router's
    # ``e_score_correction_bias`` is an ``nn.Parameter`` (requires_grad=False), so transformers
    # counts it as a parameter: one bias of E per router.
    "ernie4_5_moe": Family(
        moe_layers=_ernie_moe_layers, shared=_shared_times_expert("moe_num_shared_experts"),
        bias={f: "use_bias" for f in (*_ALL_BIAS, "ffn_bias", "shared_expert_bias",
                                      "lm_head_bias")},
        fixed=dict(router_bias=True),
        notes=("router e_score_correction_bias is a parameter in transformers (router_bias)",)),
    # Hunyuan-A13B: every layer MoE; experts and the one shared MLP are intermediate_size wide;
    # per-head q/k RMSNorm; transformers needs head_dim (its None default fails).
    "hunyuan_v1_moe": Family(
        dense_width="intermediate_size", expert_width="intermediate_size",
        moe_layers=_every_layer, shared=lambda r, f_e: (1, f_e),
        bias={f: "attention_bias" for f in _ALL_BIAS}, fixed=dict(qk_norm="head"),
        required=("head_dim",)),
    # Aria's language model (``modeling_aria.AriaTextMoELayer``): Llama attention (attention_bias
    # on q/k/v/o), every layer MoE: a bias-free router (E x h), routed SiLU-gated experts of
    # intermediate_size and one shared gated MLP of moe_num_shared_experts x intermediate_size
    # (AriaSharedExpertsMLP, mlp_bias on its three linears).
    "aria_text": Family(
        expert_width="intermediate_size", moe_layers=_every_layer,
        shared=_shared_times_expert("moe_num_shared_experts"),
        bias={"attention_bias": "attention_bias", "attention_out_bias": "attention_bias",
              "shared_expert_bias": "mlp_bias"}),
    # MiniMax-M2: every layer MoE of width intermediate_size; q/k RMSNorm over all heads;
    # e_score_correction_bias buffer.
    "minimax_m2": Family(
        expert_width="intermediate_size", moe_layers=_every_layer,
        fixed=dict(qk_norm="full", router_score_correction_bias=True)),
    # dots.llm1: DeepSeek-V3 routing with standard attention and per-head q/k norm;
    # n_shared_experts / n_routed_experts / num_experts_per_tok have no usable default.
    "dots1": Family(
        moe_layers=_after_first_k_dense, shared=_shared_times_expert("n_shared_experts"),
        bias={f: "attention_bias" for f in _ALL_BIAS},
        sliding=_sliding_by_layer_types(
            lambda r, i, L: i >= r.opt_int("max_window_layers", 0)),
        fixed=dict(qk_norm="head", router_score_correction_bias=True),
        required=("n_shared_experts",)),
    # Granite-MoE with a shared MLP (shared_intermediate_size; 0 → none).
    "granitemoeshared": Family(
        expert_width="intermediate_size", moe_layers=_every_layer,
        shared=_shared_of_width("shared_intermediate_size"),
        bias={f: "attention_bias" for f in _ALL_BIAS}),
    # FlexOlmo: OLMo-2 block (post-norms, q/k RMSNorm over all heads), every layer MoE.
    "flex_olmo": Family(
        expert_width="intermediate_size", moe_layers=_every_layer,
        bias={f: "attention_bias" for f in _ALL_BIAS}, fixed=dict(qk_norm="full")),
    # EXAONE-MoE: per-head q/k norm, mlp_layer_types (default: first_k_dense_replace dense),
    # shared experts, correction-bias buffer, sliding layers every sliding_window_pattern.
    "exaone_moe": Family(
        moe_layers=_sparse_mlp_layer_types(lambda r: r.opt_int("first_k_dense_replace", 0)),
        shared=_shared_times_expert("num_shared_experts"),
        sliding=_sliding_by_layer_types(
            lambda r, i, L: (i + 1) % r.opt_int("sliding_window_pattern", 1) != 0),
        fixed=dict(qk_norm="head", router_score_correction_bias=True)),
    # --- dense families -------------------------------------------------------------------
    # Ministral: transformers' head_dim default None fails (required here).
    "ministral": Family(sliding=_sliding_by_layer_types(lambda r, i, L: True),
                        required=("head_dim",)),
    "granite": Family(bias={**{f: "attention_bias" for f in _ALL_BIAS}, "ffn_bias": "mlp_bias"}),
    # Seed-OSS: separate flags for the q/k/v biases and the output-projection bias.
    "seed_oss": Family(bias={"attention_bias": "attention_bias",
                             "attention_out_bias": "attention_out_bias", "ffn_bias": "mlp_bias"}),
    # ERNIE-4.5 dense: ``use_bias`` on attention and MLP (unlike the MoE model, not lm_head).
    "ernie4_5": Family(bias={f: "use_bias" for f in (*_ALL_BIAS, "ffn_bias")}),
    # OLMo-2/3: two post-norms per layer; q/k RMSNorm over all heads; OLMo-3 slides on three
    # layers of four.
    "olmo2": Family(bias={f: "attention_bias" for f in _ALL_BIAS}, fixed=dict(qk_norm="full")),
    "olmo3": Family(bias={f: "attention_bias" for f in _ALL_BIAS}, fixed=dict(qk_norm="full"),
                    sliding=_sliding_by_layer_types(lambda r, i, L: (i + 1) % 4 != 0)),
    # EXAONE-4: per-head q/k norm, two post-norms, sliding layers every sliding_window_pattern.
    "exaone4": Family(
        sliding=_sliding_by_layer_types(
            lambda r, i, L: (i + 1) % r.opt_int("sliding_window_pattern", 1) != 0),
        fixed=dict(qk_norm="head")),
    # Gemma-2/3: four norms per layer (pre and post around attention and MLP); GeGLU; logit
    # soft-capping (no parameters, no matmul); Gemma-3 adds per-head q/k norm.
    "gemma2": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                     sliding=_sliding_by_layer_types(lambda r, i, L: (i + 1) % 2 != 0),
                     fixed=dict(norms_per_layer=4)),
    "gemma3_text": Family(
        bias={f: "attention_bias" for f in _ALL_BIAS},
        sliding=_sliding_by_layer_types(
            lambda r, i, L: (i + 1) % r.opt_int("sliding_window_pattern", 1) != 0),
        fixed=dict(norms_per_layer=4, qk_norm="head")),
    # GLM-4: four norms per layer, fused gate_up (same count), q/k/v bias only.
    "glm4": Family(bias={"attention_bias": "attention_bias"}, fixed=dict(norms_per_layer=4)),
    # Phi-3/4: fused qkv_proj and gate_up_proj (same counts); every layer slides when
    # sliding_window is set.
    "phi3": Family(sliding=_sliding_by_layer_types(lambda r, i, L: True),
                   fixed=dict(fused_qkv=True)),
    # StarCoder2: LayerNorm with bias (always), a plain (non-gated) MLP c_fc/c_proj,
    # ``use_bias`` on attention and MLP; every layer slides when sliding_window is set.
    "starcoder2": Family(bias={f: "use_bias" for f in (*_ALL_BIAS, "ffn_bias")},
                         sliding=_sliding_by_layer_types(lambda r, i, L: True),
                         fixed=dict(norm_type="layernorm", norm_bias=True, gated_ffn=False)),
    # Cohere (Command-R): attention and MLP in parallel after one LayerNorm (no bias); optional
    # q/k LayerNorm of shape (heads, head_dim); Cohere-2 adds sliding layers.
    "cohere": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                     fixed=dict(norm_type="layernorm", norms_per_layer=1),
                     qk_norm_flag=("use_qk_norm", "full")),  # CohereLayerNorm((heads, d))
    # OLMo-1: Llama block with parameter-free LayerNorms (OlmoLayerNorm); clip_qkv has no
    # parameters.
    "olmo": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                   fixed=dict(norm_type="layernorm", norm_weight=False)),
    # Phi-1/1.5/2: Cohere-like parallel block after one LayerNorm (with bias); biases on q/k/v,
    # dense, fc1/fc2 and the lm_head; a plain GELU MLP; optional per-head q/k LayerNorms.
    "phi": Family(fixed=dict(norm_type="layernorm", norm_bias=True, norms_per_layer=1,
                             gated_ffn=False, attention_bias=True, attention_out_bias=True,
                             ffn_bias=True, lm_head_bias=True),
                  qk_norm_flag=("qk_layernorm", "head")),
    "cohere2": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                      sliding=_sliding_by_layer_types(
                          lambda r, i, L: (i + 1) % r.opt_int("sliding_window_pattern", 1) != 0),
                      fixed=dict(norm_type="layernorm", norms_per_layer=1)),
    # Cohere Compass text model (``modeling_cohere_compass``, North): Cohere-2's parallel block
    # (one bias-free LayerNorm, attention + gated MLP) with attention_bias on q/k/v/o; sliding
    # layers only where ``layer_types`` says so (its default is every layer full:
    # ``CohereCompassTextConfig.__post_init__``); head_dim hidden / heads unless written (the
    # file's key wins over the value __post_init__ derives).
    "cohere_compass_text": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                                  sliding=_sliding_by_layer_types(lambda r, i, L: False),
                                  fixed=dict(norm_type="layernorm", norms_per_layer=1)),
    # GPT-NeoX (Pythia): fused query_key_value (MHA, head_dim = h/a) and attention.dense with
    # ``attention_bias``; plain MLP dense_h_to_4h/dense_4h_to_h with biases; LayerNorms with
    # bias; parallel residual (use_parallel_residual) keeps both LayerNorms.
    "gpt_neox": Family(bias={f: "attention_bias" for f in _ALL_BIAS}, mha=True,
                       fixed=dict(norm_type="layernorm", norm_bias=True, gated_ffn=False,
                                  ffn_bias=True, fused_qkv=True)),
    # Helium (Kyutai): Llama block; ``attention_bias`` on q/k/v only, o_proj (h → h) never.
    # transformers' default head_dim (128) fits only hidden_size = 128·heads: required here.
    "helium": Family(bias={"attention_bias": "attention_bias", "ffn_bias": "mlp_bias"},
                     o_proj_from_hidden=True, required=("head_dim",)),
    # SmolLM3: Llama block with NoPE layers (no parameters, no FLOPs); ``attention_bias`` on all
    # four projections; optional sliding layers (see _smollm3_sliding).
    "smollm3": Family(bias={**{f: "attention_bias" for f in _ALL_BIAS}, "ffn_bias": "mlp_bias"},
                      sliding=_smollm3_sliding),
    # Hunyuan dense: per-head q/k RMSNorm (query_layernorm/key_layernorm); transformers needs
    # head_dim (its None default fails, as in hunyuan_v1_moe).
    "hunyuan_v1_dense": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                               fixed=dict(qk_norm="head"), required=("head_dim",)),
    # Arcee (AFM): Llama block with a plain (non-gated) up/down MLP (ReLU²).
    "arcee": Family(bias={**{f: "attention_bias" for f in _ALL_BIAS}, "ffn_bias": "mlp_bias"},
                    fixed=dict(gated_ffn=False)),
    # Ministral-3: Mistral's block; every layer slides when sliding_window is set.
    "ministral3": Family(sliding=_all_layers_sliding),
    # VaultGemma: Gemma-2's attention (soft-capping, sliding layers: default every other one,
    # starting with the first) with two pre-norms per layer, not four.
    "vaultgemma": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                         sliding=_sliding_by_layer_types(lambda r, i, L: (i + 1) % 2 != 0)),
    # Granite with sliding-window layers (default: every layer but each fourth, i % 4 == 0)
    # and one learned attention-sink logit per query head in every layer (self_attn.sinks).
    "granite_swa": Family(bias={**{f: "attention_bias" for f in _ALL_BIAS},
                                "ffn_bias": "mlp_bias"},
                          sliding=_sliding_by_layer_types(lambda r, i, L: i % 4 != 0),
                          fixed=dict(attention_sinks=True)),
    # Granite-MoE with sliding-window layers (as granite_swa) and attention sinks, optional
    # shared MLP (as granitemoeshared).
    "granitemoe_swa": Family(
        expert_width="intermediate_size", moe_layers=_every_layer,
        shared=_shared_of_width("shared_intermediate_size"),
        bias={f: "attention_bias" for f in _ALL_BIAS},
        sliding=_sliding_by_layer_types(lambda r, i, L: i % 4 != 0),
        fixed=dict(attention_sinks=True)),
    # Jais-2: LayerNorms with bias, a plain up/down MLP (ReLU²); biases on by default.
    "jais2": Family(bias={**{f: "attention_bias" for f in _ALL_BIAS}, "ffn_bias": "mlp_bias"},
                    fixed=dict(norm_type="layernorm", norm_bias=True, gated_ffn=False)),
    # GLM (GLM-4-9B): q/k/v bias with attention_bias (o_proj never), fused gate_up (same count).
    "glm": Family(bias={"attention_bias": "attention_bias"}),
    # Command-A MoE (Cohere2-MoE): Cohere's parallel block (one input norm, RMSNorm or a
    # bias-free LayerNorm: h weights either way); experts intermediate_size wide, shared experts
    # fused into one MLP of num_shared_experts·intermediate_size; dense layers (mlp_layer_types,
    # default the first first_k_dense_replace) prefix_dense_intermediate_size wide; sliding
    # layers by layer_types (see _cohere2_moe_sliding_default).
    "cohere2_moe": Family(
        dense_width="prefix_dense_intermediate_size", expert_width="intermediate_size",
        moe_layers=_sparse_mlp_layer_types(lambda r: r.opt_int("first_k_dense_replace", 0)),
        shared=_shared_times_expert("num_shared_experts"),
        bias={f: "attention_bias" for f in _ALL_BIAS},
        sliding=_sliding_by_layer_types(_cohere2_moe_sliding_default),
        fixed=dict(norms_per_layer=1)),
    # --- families added for current configs ----------------------------------------------
    # Solar-Open (``modular_solar_open.py``): Llama's decoder layer and attention (q/k/v bias
    # with attention_bias, o_proj never: SolarOpenAttention rebuilds it bias-free, no q/k norm)
    # around GLM-4.5's MoE (Glm4MoeMoE: n_shared_experts fused shared experts, the
    # e_score_correction_bias buffer) in every layer; no dense layers, no MTP field.
    "solar_open": Family(
        moe_layers=_every_layer, shared=_shared_times_expert("n_shared_experts"),
        bias={"attention_bias": "attention_bias"},
        fixed=dict(router_score_correction_bias=True)),
    # AFMoE (Arcee Trinity, ``modular_afmoe.py``): four norms per layer (pre and post around
    # attention and MLP); per-head q/k RMSNorm; a sigmoid output gate ``gate_proj`` (h → a·d,
    # no bias: the q_proj-doubling of Qwen3-Next in count and FLOPs); the first
    # ``num_dense_layers`` layers dense, the rest MoE with num_shared_experts fused shared
    # experts and an ``expert_bias`` nn.Parameter of E (counted by transformers: router_bias);
    # sliding layers but each ``global_attn_every_n_layers``-th (AfmoeConfig.__post_init__).
    # RoPE on the sliding layers only and muP multipliers have no parameters.
    "afmoe": Family(
        moe_layers=lambda r, L: tuple(range(min(r.opt_int("num_dense_layers", 0), L), L)),
        shared=_shared_times_expert("num_shared_experts"),
        bias={f: "attention_bias" for f in _ALL_BIAS},
        sliding=_sliding_by_layer_types(
            lambda r, i, L: (i + 1) % r.opt_int("global_attn_every_n_layers", 1) != 0),
        fixed=dict(qk_norm="head", norms_per_layer=4, attention_output_gate=True,
                   router_bias=True),
        notes=("router expert_bias is a parameter in transformers (router_bias)",)),
    # Hunyuan-3 (``modular_hy_v3.py``): Llama attention (attention_bias on q/k/v/o) with
    # per-head q/k RMSNorm (ApertusAttention); dense layers by mlp_layer_types (default: the
    # first) of intermediate_size; MoE layers: experts of moe_intermediate_size, one shared
    # LlamaMLP of num_shared_experts·moe_intermediate_size (mlp_bias, like the dense MLP), the
    # e_score_correction_bias buffer. With num_shared_experts 0 transformers still builds the
    # shared MLP, intermediate_size wide (HYV3MLP: ``intermediate_size or
    # config.intermediate_size``); counted as built.
    "hy_v3": Family(
        moe_layers=_sparse_mlp_layer_types(lambda r: 1),
        shared=lambda r, f_e: _shared_times_expert("num_shared_experts")(r, f_e)
        if r.opt_int("num_shared_experts", 0) else (1, r.int("intermediate_size")),
        bias={**{f: "attention_bias" for f in _ALL_BIAS}, "ffn_bias": "mlp_bias",
              "shared_expert_bias": "mlp_bias"},
        fixed=dict(qk_norm="head", router_score_correction_bias=True)),
    # Mellum MoE (``modular_mellum.py``): Qwen3-MoE's attention (attention_bias on q/k/v/o,
    # per-head q/k RMSNorm) with sliding layers by layer_types (default: none); MoE or dense
    # layers by mlp_layer_types (default: all MoE), no shared expert; MTP layers are not part of
    # the model transformers builds.
    "mellum": Family(moe_layers=_sparse_mlp_layer_types(lambda r: 0),
                     bias={f: "attention_bias" for f in _ALL_BIAS},
                     sliding=_sliding_by_layer_types(lambda r, i, L: False),
                     fixed=dict(qk_norm="head")),
    # Flint (``modular_flint.py``): Qwen3-MoE's block (attention_bias on q/k/v/o, per-head q/k
    # RMSNorm) with a learned sink per head in every layer; sliding layers by layer_types
    # (default: full on layers 0, 1, every i % 4 == 1 and the last); MoE layers as Qwen3-MoE
    # (decoder_sparse_step, mlp_only_layers: default [0, 1]) with an ungated shared expert of
    # shared_expert_intermediate_size; the router weight is an fp32 nn.Parameter (same count).
    "flint": Family(
        moe_layers=lambda r, L: _qwen_moe_layers(
            _Reader({**r.cfg, "mlp_only_layers": [i for i in (0, 1) if i < L]}
                    if r.cfg.get("mlp_only_layers") is None else r.cfg,
                    r.model_type, r.where, r.defaults), L, r.int("num_experts", 0)),
        shared=_shared_of_width("shared_expert_intermediate_size"),
        bias={f: "attention_bias" for f in _ALL_BIAS},
        sliding=_sliding_by_layer_types(lambda r, i, L: not (i < 2 or i % 4 == 1 or i == L - 1)),
        fixed=dict(qk_norm="head", attention_sinks=True)),
    # Kolibri-1 (``modular_kolibri1.py``): EXAONE-4's bias-free attention with per-head q/k
    # RMSNorm, GLM-4's four norms per layer, every layer DeepSeek-V3's MoE (sigmoid router with
    # the e_score_correction_bias buffer, one shared MLP of shared_expert_intermediate_size);
    # sliding layers by layer_types (default: full on each fifth layer).
    "kolibri1": Family(
        moe_layers=_every_layer, shared=_shared_of_width("shared_expert_intermediate_size"),
        sliding=_sliding_by_layer_types(lambda r, i, L: (i + 1) % 5 != 0),
        fixed=dict(qk_norm="head", norms_per_layer=4, router_score_correction_bias=True)),
    # Apertus (``modular_apertus.py``): Llama attention (attention_bias on q/k/v/o) with
    # per-head q/k RMSNorm; a plain up/down MLP without bias (ApertusMLP) whose xIELU activation
    # has two learned scalars (see _apertus); the two pre-norms are called attention_layernorm
    # and feedforward_layernorm.
    "apertus": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                      fixed=dict(qk_norm="head", gated_ffn=False)),
    # CWM (``modular_cwm.py``): Llama with bias-free attention (Qwen2Attention, attention_bias
    # removed from its config) and sliding layers but each fourth (``i % 4 == 0`` full,
    # CwmConfig.__post_init__).
    "cwm": Family(bias={"ffn_bias": "mlp_bias"},
                  sliding=_sliding_by_layer_types(lambda r, i, L: i % 4 != 0)),
    # nanochat (``modular_nanochat.py``): parameter-free RMSNorms (before the layers too) and
    # q/k norms (Llama4TextL2Norm-style, no weight); attention_bias on q/k/v/o; a plain
    # fc1/fc2 MLP (ReLU²) without bias; logit soft-capping (no parameters, no matmul).
    "nanochat": Family(bias={f: "attention_bias" for f in _ALL_BIAS},
                       fixed=dict(norm_weight=False, gated_ffn=False),
                       notes=("norms and q/k norms have no parameters",)),
    # Nemotron-3/4 (``modeling_nemotron.py``): LayerNorm1P (weight and bias); attention_bias on
    # q/k/v/o; a plain up/down MLP (ReLU²) with mlp_bias; partial RoPE (no parameters).
    # transformers does not derive num_key_value_heads (absent, NemotronAttention fails):
    # required here.
    "nemotron": Family(bias={**{f: "attention_bias" for f in _ALL_BIAS}, "ffn_bias": "mlp_bias"},
                       fixed=dict(norm_type="layernorm", norm_bias=True, gated_ffn=False),
                       required=("num_key_value_heads",)),
    # Persimmon / Fuyu's LM (``modeling_persimmon.py``): fused query_key_value (h → 3h, MHA,
    # head_dim = h/a) and dense with biases; a plain MLP with biases; LayerNorms with bias;
    # optional per-head q/k LayerNorms (qk_layernorm, with bias); partial RoPE.
    "persimmon": Family(mha=True, qk_norm_flag=("qk_layernorm", "head"),
                        fixed=dict(norm_type="layernorm", norm_bias=True, gated_ffn=False,
                                   ffn_bias=True, attention_bias=True, attention_out_bias=True,
                                   fused_qkv=True)),
    # StableLM (``modeling_stablelm.py``): LayerNorms with bias; q/k/v bias with use_qkv_bias,
    # o_proj never; head_dim = h/a whatever the config says; a gated MLP; one norm per layer
    # with use_parallel_residual (see _stablelm).
    "stablelm": Family(bias={"attention_bias": "use_qkv_bias"},
                       fixed=dict(norm_type="layernorm", norm_bias=True)),
}


# ----------------------------------------------------------------------------------------------
# hybrids: linear attention, state-space and short-conv mixers (issue #13)
# ----------------------------------------------------------------------------------------------

def _gated_deltanet(r: _Reader) -> Mixer:
    """The Gated DeltaNet mixer of Qwen3-Next and Qwen3.5 (``linear_*`` config keys)."""
    return Mixer(kind="gated_deltanet", num_heads=r.opt_int("linear_num_value_heads", 1),
                 head_dim=r.opt_int("linear_value_head_dim", 1),
                 num_k_heads=r.opt_int("linear_num_key_heads", 1),
                 head_k_dim=r.opt_int("linear_key_head_dim", 1),
                 conv_kernel=r.opt_int("linear_conv_kernel_dim", 1))


#: transformers' legacy layer-type names (``configuration_utils._LEGACY_LAYER_TYPE_REMAP``)
_LEGACY_KIND = {"mamba": "linear_attention", "attention": "full_attention"}


def _hybrid_schedule(r: _Reader, key: str, L: int, allowed: tuple[str, ...]) -> list[str]:
    """A per-layer kind list (``layer_types``, ``layers_block_type`` ...): exactly ``L``
    entries, each one of ``allowed`` after transformers' legacy renames; else an error naming
    the field, the bad entry and the kinds the family accepts."""
    lt = r.cfg.get(key)
    if not isinstance(lt, (list, tuple)):
        raise EstimatorError(r.where + key, lt, f"must be a list of {L} layer kinds")
    if len(lt) != L:
        raise EstimatorError(r.where + key, f"{len(lt)} entries",
                             f"must list one kind per layer: num_hidden_layers is {L}")
    out = []
    for i, t in enumerate(lt):
        t = _LEGACY_KIND.get(t, t) if isinstance(t, str) else t
        if t not in allowed:
            raise EstimatorError(f"{r.where}{key}[{i}]", t,
                                 "unknown layer kind; one of " + ", ".join(allowed))
        out.append(t)
    return out


def _mamba2(r: _Reader, h: int, heads: str, head: str, groups: str, state: str, conv: str,
            conv_bias: str, proj_bias: str, out_bias: str | None = None, inner: int | None = None,
            gated_norm: bool = True) -> Mixer:
    """A Mamba-2 mixer from the family's keys. ``inner`` (``expand·h`` or Falcon-H1's
    ``mamba_d_ssm``) must equal heads × head_dim: transformers' config classes refuse anything
    else (``BambaConfig.__post_init__``), and the SSM state is sized by the heads."""
    H = r.opt_int(heads, 1)
    P = r.opt(head)
    if P == "auto" and inner is not None:
        if inner % H:
            raise EstimatorError(r.name_of(heads), H, f"must divide the Mamba inner width {inner}")
        P = inner // H
    P = check_int(r.name_of(head), P, 1)
    if inner is not None and H * P != inner:
        raise EstimatorError(r.name_of(head), P, f"{heads} x {head} = {H * P} must equal the "
                             f"Mamba inner width {inner} (expand x hidden_size)")
    return Mixer(kind="mamba2", num_heads=H, head_dim=P, num_k_heads=r.opt_int(groups, 1),
                 state_size=r.opt_int(state, 1), conv_kernel=r.opt_int(conv, 1),
                 conv_bias=r.flag(conv_bias), proj_bias=r.flag(proj_bias),
                 out_bias=r.flag(out_bias or proj_bias), gated_norm=gated_norm)


def _indices(lt: list[str], *kinds: str) -> tuple[int, ...]:
    return tuple(i for i, t in enumerate(lt) if t in kinds)


def _qwen3_next(r: _Reader, name: str) -> ModelSpec:
    """Qwen3-Next (``modeling_qwen3_next.py``): ``layer_types`` (default: every
    ``full_attention_interval``-th layer full, the rest Gated DeltaNet); gated full attention
    (``q_proj`` h → 2·a·d: queries and an output gate) with per-head q/k RMSNorm; Qwen2-MoE's
    sparse block (shared expert + sigmoid gate) on ``decoder_sparse_step`` layers."""
    c = _common(r, name)
    L = c["num_hidden_layers"]
    if r.cfg.get("layer_types") is None:
        every = check_int(r.where + "full_attention_interval",
                          r.cfg.get("full_attention_interval", 4), 1)
        lt = ["linear_attention" if (i + 1) % every else "full_attention" for i in range(L)]
    else:
        lt = _hybrid_schedule(r, "layer_types", L, ("linear_attention", "full_attention"))
    moe = _qwen_moe_common(r, c)
    f_sh = r.int("shared_expert_intermediate_size", 0) if moe["moe_layers"] else 0
    mixer = _gated_deltanet(r)
    ab = r.flag("attention_bias")
    layers = _indices(lt, "linear_attention")
    return ModelSpec(**c, **moe, attention_bias=ab, attention_out_bias=ab, qk_norm="head",
                     attention_output_gate=True, num_shared_experts=1 if f_sh else 0,
                     shared_expert_intermediate_size=f_sh,
                     shared_expert_gate=bool(moe["moe_layers"]),
                     mixer=mixer if layers else None, mixer_layers=layers)


def _jamba(r: _Reader, name: str) -> ModelSpec:
    """Jamba (``modeling_jamba.py``): layer i has attention iff ``i % attn_layer_period ==
    attn_layer_offset``, else a Mamba-1 mixer (with dt/B/C RMSNorms); its FFN is MoE iff
    ``i % expert_layer_period == expert_layer_offset`` and ``num_experts > 1``
    (``JambaConfig.layers_block_type`` / ``layers_num_experts``). Experts are
    ``intermediate_size`` wide; ``mamba_dt_rank: "auto"`` is ``ceil(h/16)``."""
    c = _common(r, name)
    L, h = c["num_hidden_layers"], c["hidden_size"]
    ap, ao = r.opt_int("attn_layer_period", 1), r.opt_int("attn_layer_offset", 0)
    ep, eo = r.opt_int("expert_layer_period", 1), r.opt_int("expert_layer_offset", 0)
    for key, off, per in (("attn_layer_offset", ao, ap), ("expert_layer_offset", eo, ep)):
        if off >= per:  # JambaConfig refuses it
            raise EstimatorError(r.name_of(key), off, f"must be smaller than its period {per}")
    E = r.int("num_experts")
    moe_layers = tuple(i for i in range(L) if i % ep == eo) if E > 1 else ()
    rank = r.opt("mamba_dt_rank")
    rank = -(-h // 16) if rank == "auto" else check_int(r.name_of("mamba_dt_rank"), rank, 1)
    mixer = Mixer(kind="mamba", num_heads=1, head_dim=r.opt_int("mamba_expand", 1) * h,
                  state_size=r.opt_int("mamba_d_state", 1),
                  conv_kernel=r.opt_int("mamba_d_conv", 1), dt_rank=rank,
                  conv_bias=r.flag("mamba_conv_bias"), proj_bias=r.flag("mamba_proj_bias"),
                  bc_norms=True)
    layers = tuple(i for i in range(L) if i % ap != ao)
    moe = (_moe_fields(r, moe_layers, "intermediate_size") if moe_layers else
           dict(num_experts=0, num_experts_per_tok=0, moe_intermediate_size=0, moe_layers=()))
    return ModelSpec(**c, **moe, intermediate_size=r.int("intermediate_size"),
                     mixer=mixer if layers else None, mixer_layers=layers)


def _bamba(r: _Reader, name: str) -> ModelSpec:
    """Bamba (``modeling_bamba.py``): attention on ``attn_layer_indices``, Mamba-2 elsewhere;
    a dense SwiGLU MLP in every layer."""
    c = _common(r, name)
    L, h = c["num_hidden_layers"], c["hidden_size"]
    attn = set(_layer_list(r.where + "attn_layer_indices", r.opt("attn_layer_indices"), L))
    mixer = _mamba2(r, h, "mamba_n_heads", "mamba_d_head", "mamba_n_groups", "mamba_d_state",
                    "mamba_d_conv", "mamba_conv_bias", "mamba_proj_bias",
                    inner=r.opt_int("mamba_expand", 1) * h)
    layers = tuple(i for i in range(L) if i not in attn)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.int("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab, ffn_bias=r.flag("mlp_bias"),
                     mixer=mixer if layers else None, mixer_layers=layers)


def _granitemoehybrid(r: _Reader, name: str) -> ModelSpec:
    """Granite-4.0-H (``modeling_granitemoehybrid.py``): ``layer_types`` (alias
    ``layers_block_type``; default all Mamba-2) picks Mamba-2 or attention per layer; every
    layer has the MoE block (``num_local_experts`` experts of ``intermediate_size``; none when
    0) and a gated ``shared_mlp`` of ``shared_intermediate_size`` — the dense FFN of the
    expert-free variants. muP multipliers have no parameters."""
    c = _common(r, name)
    L, h = c["num_hidden_layers"], c["hidden_size"]
    key = "layer_types" if "layer_types" in r.cfg else "layers_block_type"
    lt = (_hybrid_schedule(r, key, L, ("linear_attention", "full_attention"))
          if r.cfg.get(key) is not None else ["linear_attention"] * L)
    mixer = _mamba2(r, h, "mamba_n_heads", "mamba_d_head", "mamba_n_groups", "mamba_d_state",
                    "mamba_d_conv", "mamba_conv_bias", "mamba_proj_bias",
                    inner=r.opt_int("mamba_expand", 1) * h)
    E = r.opt_int("num_local_experts", 0)
    f_sh = r.opt_int("shared_intermediate_size", 1)
    if E:
        kw = dict(**_moe_fields(r, tuple(range(L)), "intermediate_size"), num_shared_experts=1,
                  shared_expert_intermediate_size=f_sh)
    else:
        kw = dict(intermediate_size=f_sh)
    layers = _indices(lt, "linear_attention")
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **kw, attention_bias=ab, attention_out_bias=ab,
                     mixer=mixer if layers else None, mixer_layers=layers,
                     notes=("muP multipliers (embedding, residual, attention, logits) have no "
                            "parameters",))


def _nemotron_h(r: _Reader, name: str) -> ModelSpec:
    """Nemotron-H (``modeling_nemotron_h.py``): one sublayer per block — a norm and one of
    Mamba-2 (``M``), attention (``*``), a plain MLP (``-``, squared ReLU: 2 matrices) or a
    non-gated MoE (``E``: routed experts, one shared MLP of
    ``moe_shared_expert_intermediate_size``, DeepSeek-V3's correction-bias buffer).
    ``layers_block_type`` (or the legacy ``hybrid_override_pattern`` string) sets the layer
    count; ``num_hidden_layers`` is ignored, as transformers ignores it."""
    if r.cfg.get("layers_block_type") is not None:
        key, raw = "layers_block_type", r.cfg["layers_block_type"]
    elif r.cfg.get("hybrid_override_pattern") is not None:
        key, raw = "hybrid_override_pattern", r.cfg["hybrid_override_pattern"]
        pat = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}
        if not isinstance(raw, str) or not raw:
            raise EstimatorError(key, raw, "must be a string of M, E, * and - (one per layer)")
        bad = next((i for i, ch in enumerate(raw) if ch not in pat), None)
        if bad is not None:
            raise EstimatorError(f"{key}[{bad}]", raw[bad], "unknown layer kind; one of "
                                 "M (Mamba-2), * (attention), - (MLP), E (MoE)")
        raw = [pat[ch] for ch in raw]
    else:
        key, raw = "layers_block_type", ["linear_attention", "moe", "full_attention", "mlp"]
    if not isinstance(raw, (list, tuple)) or not raw:
        raise EstimatorError(key, raw, "must be a non-empty list of layer kinds")
    L = check_int(key, len(raw), 1)
    cfg = {**r.cfg, "num_hidden_layers": L, "layers_block_type": list(raw)}
    r2 = _Reader(cfg, r.model_type, r.where, r.defaults)
    lt = _hybrid_schedule(r2, "layers_block_type", L,
                          ("linear_attention", "full_attention", "mlp", "moe"))
    c = _common(r2, name)
    # NemotronHForCausalLM declares no tied weights (``_tied_weights_keys = {}``): transformers
    # builds a separate lm_head whatever tie_word_embeddings says (published configs: false)
    c["tie_word_embeddings"] = False
    h = c["hidden_size"]
    if r.opt("moe_latent_size") is not None:
        raise EstimatorError("moe_latent_size", r.opt("moe_latent_size"),
                             "latent MoE projections are not modelled yet")
    mixer = _mamba2(r, h, "mamba_num_heads", "mamba_head_dim", "n_groups", "ssm_state_size",
                    "conv_kernel", "use_conv_bias", "use_bias")
    moe_layers = _indices(lt, "moe")
    mlp_bias = r.flag("mlp_bias")
    kw: dict[str, Any] = dict(intermediate_size=r.int("intermediate_size")
                              if "mlp" in lt else 0)
    if moe_layers:
        kw.update(_moe_fields(r, moe_layers, "moe_intermediate_size"), num_shared_experts=1,
                  shared_expert_intermediate_size=r.int("moe_shared_expert_intermediate_size"),
                  shared_expert_bias=mlp_bias, router_score_correction_bias=True)
    layers = _indices(lt, "linear_attention")
    notes = ()
    if r.opt("num_nextn_predict_layers"):
        notes = ("multi-token-prediction layers are not counted (outside the main model)",)
    return ModelSpec(**c, **kw, norms_per_layer=1, gated_ffn=False, ffn_bias=mlp_bias,
                     mixer=mixer if layers else None, mixer_layers=layers,
                     mixerless_layers=_indices(lt, "mlp", "moe"),
                     ffnless_layers=_indices(lt, "linear_attention", "full_attention"),
                     notes=notes)


def _falcon_h1(r: _Reader, name: str) -> ModelSpec:
    """Falcon-H1 (``modeling_falcon_h1.py``): every layer runs attention and a Mamba-2 mixer in
    parallel on the same normed input, then a SwiGLU MLP. The mixer's inner width is
    ``mamba_d_ssm`` (None → ``mamba_expand·h``); its gated RMSNorm exists only with
    ``mamba_rms_norm``; ``out_proj`` takes ``projectors_bias``. muP multipliers are
    buffers/scalars, not parameters."""
    c = _common(r, name)
    L, h = c["num_hidden_layers"], c["hidden_size"]
    d_ssm = r.opt_int("mamba_d_ssm", 1, allow_none=True)
    inner = d_ssm if d_ssm is not None else r.opt_int("mamba_expand", 1) * h
    mixer = _mamba2(r, h, "mamba_n_heads", "mamba_d_head", "mamba_n_groups", "mamba_d_state",
                    "mamba_d_conv", "mamba_conv_bias", "mamba_proj_bias",
                    out_bias="projectors_bias", inner=inner,
                    gated_norm=r.flag("mamba_rms_norm"))
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.int("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab, ffn_bias=r.flag("mlp_bias"), mixer=mixer,
                     mixer_layers=tuple(range(L)), parallel_mixer=True,
                     notes=("attention and Mamba-2 run in parallel in every layer",
                            "muP multipliers are not parameters"))


#: ``Zamba2Config``'s default ``layers_block_type`` (``configuration_zamba2.py``, 54 layers:
#: "Zamba2-2.7B style" per its docstring), in transformers' current names.
_ZAMBA2_SCHEDULE = (["linear_attention"] + (["linear_attention"] * 5 + ["hybrid"]) * 7
                    + ["linear_attention"] * 4 + ["hybrid"] + ["linear_attention"] * 3
                    + ["hybrid"] + ["linear_attention"] * 2)


def _zamba2(r: _Reader, name: str) -> ModelSpec:
    """Zamba2 (``modeling_zamba2.py``; :class:`~estimator.spec.SharedBlock`): every layer a
    Mamba-2 block (``Zamba2MambaMixer``: ``n_mamba_heads`` heads of ``expand·h /
    n_mamba_heads``, ``mamba_ngroups`` groups, conv bias always on, ``in_proj``/``out_proj``
    biases with ``add_bias_linear``, the gated RMSNorm), its ``hybrid`` layers
    (``layers_block_type``) also run one of ``num_mem_blocks`` shared attention+MLP blocks on
    ``concat(hidden, embeddings)`` plus a per-use linear and LoRA adapters. Without
    ``layers_block_type`` the config class's 54-layer schedule applies, so
    ``num_hidden_layers`` must be 54, as transformers' ``validate_layer_type`` demands. The
    attention head dim is always ``2h // num_attention_heads`` (``Zamba2Config.__post_init__``
    overwrites ``attention_head_dim``). transformers ties the shared blocks only with
    ``tie_word_embeddings`` (``SharedBlock.tied``)."""
    c = _common(r, name)
    L, key = c["num_hidden_layers"], "layers_block_type"
    if r.cfg.get(key) is None:  # the config class's schedule, which transformers only accepts
        if L != len(_ZAMBA2_SCHEDULE):  # with as many layers (validate_layer_type)
            raise EstimatorError(r.name_of("num_hidden_layers"), L,
                                 f"must be {len(_ZAMBA2_SCHEDULE)} without layers_block_type "
                                 "(transformers' default schedule has that many layers)")
        lt = list(_ZAMBA2_SCHEDULE)
    else:
        lt = _hybrid_schedule(r, key, L, ("linear_attention", "hybrid"))
    h, a, g = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    d = 2 * h // a
    if d < 1:
        raise EstimatorError(r.name_of("num_attention_heads"), a,
                             f"must not exceed 2 x hidden_size={2 * h} (head_dim = 2h // heads)")
    if a % g:
        raise EstimatorError(r.name_of("num_key_value_heads"), g,
                             f"must divide num_attention_heads={a}")
    adapters = r.flag("use_shared_attention_adapter")
    if adapters and (g != a or a * d != 2 * h):
        raise EstimatorError(r.name_of("use_shared_attention_adapter"), True,
                             "the q/k/v adapters output 2 x hidden_size: transformers needs "
                             "num_key_value_heads = num_attention_heads dividing 2 x hidden_size")
    inner = r.opt_int("mamba_expand", 1) * h
    H = r.opt_int("n_mamba_heads", 1)
    if inner % H:
        raise EstimatorError(r.name_of("n_mamba_heads"), H,
                             f"must divide the Mamba inner width mamba_expand x hidden_size="
                             f"{inner}")
    G = r.opt_int("mamba_ngroups", 1)
    if H % G:
        raise EstimatorError(r.name_of("mamba_ngroups"), G, f"must divide n_mamba_heads={H}")
    bias = r.flag("add_bias_linear")
    mixer = Mixer(kind="mamba2", num_heads=H, head_dim=inner // H, num_k_heads=G,
                  state_size=r.opt_int("mamba_d_state", 1),
                  conv_kernel=r.opt_int("mamba_d_conv", 1), conv_bias=True, proj_bias=bias,
                  out_bias=bias, gated_norm=True)
    f = r.opt("intermediate_size")
    f = 4 * h if not f else check_int(r.name_of("intermediate_size"), f, 1)
    rank = r.opt_int("adapter_rank", 0)
    uses = _indices(lt, "hybrid")
    block = SharedBlock(uses=uses, num_blocks=r.opt_int("num_mem_blocks", 1),
                        attention_adapter_rank=rank if adapters else 0, mlp_adapter_rank=rank,
                        tied=c["tie_word_embeddings"])
    everything = tuple(range(L))
    return ModelSpec(**{**c, "head_dim": d}, intermediate_size=f, ffn_bias=bias,
                     norms_per_layer=1, mixer=mixer, mixer_layers=everything,
                     ffnless_layers=everything, shared_block=block if uses else None,
                     notes=("one shared attention+MLP block set (num_mem_blocks) counted once; "
                            "its FLOPs and KV cache per use (hybrid layer)",) + (() if block.tied
                                                                                  else (
                         "tie_word_embeddings=false: transformers 5.24 then ties no shared "
                         "block, so every use holds its own copy, counted as transformers "
                         "builds it",)))


def _zamba(r: _Reader, name: str) -> ModelSpec:
    """Zamba-1 (``modeling_zamba.py``; :class:`~estimator.spec.SharedBlock` with one block and no
    adapters): every layer a multi-head Mamba-1 block (``ZambaMambaMixer``: ``n_mamba_heads``
    heads of ``expand·h / n_mamba_heads`` channels, each with its own ``x_proj`` and ``dt_proj``
    slice — the same parameter, state and FLOP counts as one Mamba-1 of the inner width), its
    ``hybrid`` layers also run the one shared attention+MLP block on ``concat(hidden,
    embeddings)`` (``attention_hidden_size`` = 2h; ``attention_head_dim``, default ``2h //
    heads``; a bias-free gated MLP) and a per-use h×h linear. Default schedule
    (``ZambaConfig.__post_init__``): layers 0, 1 Mamba, layer 2 hybrid, then layer ``3 + i``
    hybrid iff ``i % attn_layer_period == attn_layer_offset``."""
    c = _common(r, name)
    L, h, a, g = (c["num_hidden_layers"], c["hidden_size"], c["num_attention_heads"],
                  c["num_key_value_heads"])
    key = "layers_block_type"
    if r.cfg.get(key) is None:
        if L < 3:  # the default schedule has 3 fixed entries: transformers refuses fewer layers
            raise EstimatorError(r.name_of("num_hidden_layers"), L,
                                 "must be >= 3 without layers_block_type (the default "
                                 "schedule starts mamba, mamba, hybrid)")
        per, off = r.opt_int("attn_layer_period", 1), r.opt_int("attn_layer_offset", 0)
        lt = ["linear_attention", "linear_attention", "hybrid"] + [
            "hybrid" if i % per == off else "linear_attention" for i in range(L - 3)]
    else:
        lt = _hybrid_schedule(r, key, L, ("linear_attention", "hybrid"))
    width = r.opt("attention_hidden_size")
    if width is not None and width != 2 * h:  # the block reads concat(hidden, embeddings)
        raise EstimatorError(r.name_of("attention_hidden_size"), width,
                             f"must be 2 x hidden_size={2 * h} (or null): the shared block "
                             "reads the hidden state concatenated with the embeddings")
    d = r.cfg.get("attention_head_dim", r.cfg.get("head_dim"))
    d = 2 * h // a if d is None else check_int(r.where + "attention_head_dim", d, 1)
    if d < 1:
        raise EstimatorError(r.name_of("num_attention_heads"), a,
                             f"must not exceed 2 x hidden_size={2 * h} (head_dim = 2h // heads)")
    if a % g:
        raise EstimatorError(r.name_of("num_key_value_heads"), g,
                             f"must divide num_attention_heads={a}")
    inner = r.opt_int("mamba_expand", 1) * h
    H = r.opt_int("n_mamba_heads", 1)
    if inner % H:  # ZambaConfig.validate_architecture
        raise EstimatorError(r.name_of("n_mamba_heads"), H,
                             f"must divide the Mamba inner width mamba_expand x hidden_size="
                             f"{inner}")
    rank = r.opt("mamba_dt_rank")
    rank = -(-h // 16) if rank == "auto" else check_int(r.name_of("mamba_dt_rank"), rank, 1)
    mixer = Mixer(kind="mamba", num_heads=H, head_dim=inner // H,
                  state_size=r.opt_int("mamba_d_state", 1),
                  conv_kernel=r.opt_int("mamba_d_conv", 1), dt_rank=rank,
                  conv_bias=r.flag("mamba_conv_bias"), proj_bias=r.flag("mamba_proj_bias"))
    uses = _indices(lt, "hybrid")
    block = SharedBlock(uses=uses, num_blocks=1, tied=c["tie_word_embeddings"])
    everything = tuple(range(L))
    return ModelSpec(**{**c, "head_dim": d}, intermediate_size=r.int("intermediate_size"),
                     norms_per_layer=1, mixer=mixer, mixer_layers=everything,
                     ffnless_layers=everything, shared_block=block if uses else None,
                     notes=("one shared attention+MLP block counted once; its FLOPs and KV "
                            "cache per use (hybrid layer)",) + (() if block.tied else (
                         "tie_word_embeddings=false: transformers 5.24 then ties no shared "
                         "block, so every use holds its own copy, counted as transformers "
                         "builds it",)))


def _lfm2_width(r: _Reader, f: int) -> int:
    """LFM2's MLP width (``Lfm2MLP.__init__``): with ``block_auto_adjust_ff_dim``,
    ``int(2f/3)``, times ``block_ffn_dim_multiplier`` when set, rounded up to a multiple of
    ``block_multiple_of``."""
    if not r.flag("block_auto_adjust_ff_dim"):
        return f
    f = int(2 * f / 3)
    mult = r.opt("block_ffn_dim_multiplier")
    if mult is not None:
        if isinstance(mult, bool) or not isinstance(mult, (int, float)) or not 0 < mult < 1e6:
            raise EstimatorError(r.name_of("block_ffn_dim_multiplier"), mult,
                                 "must be a positive number below 1e6 or null")
        m = r.opt_int("block_multiple_of", 1)
        f = m * ((int(mult * f) + m - 1) // m)
    return check_int("intermediate_size", f, 1)


def _lfm2(r: _Reader, name: str) -> ModelSpec:
    """LFM2 / LFM2-MoE (``modeling_lfm2.py``, ``modeling_lfm2_moe.py``): ``layer_types``
    (``full_attention`` or ``conv``; LFM2's default: attention on ``full_attn_idxs``, all layers
    when absent) picks attention (per-head q/k norms, no biases) or a gated short convolution
    (kernel ``conv_L_cache``); pre-norms ``operator_norm``/``ffn_norm``; ``embedding_norm`` is
    the final norm; the lm_head tied by default. LFM2-MoE: the first ``num_dense_layers`` FFNs
    are dense, the rest MoE (``moe_intermediate_size``; ``expert_bias`` is a buffer)."""
    c = _common(r, name)
    L, h = c["num_hidden_layers"], c["hidden_size"]
    if r.cfg.get("layer_types") is not None:
        lt = _hybrid_schedule(r, "layer_types", L, ("full_attention", "conv"))
    elif r.model_type == "lfm2":
        idx = r.opt("full_attn_idxs")
        idx = set(range(L)) if idx is None else set(_layer_list(
            r.where + "full_attn_idxs", idx, L))
        lt = ["full_attention" if i in idx else "conv" for i in range(L)]
    else:
        raise EstimatorError(r.where + "layer_types", None,
                             "required for model_type 'lfm2_moe' but missing (a list of "
                             "full_attention/conv per layer)")
    mixer = Mixer(kind="short_conv", num_heads=1, head_dim=h,
                  conv_kernel=r.opt_int("conv_L_cache", 1), proj_bias=r.flag("conv_bias"))
    layers = _indices(lt, "conv")
    if r.model_type == "lfm2":
        kw: dict[str, Any] = dict(intermediate_size=_lfm2_width(r, r.int("intermediate_size")))
    else:
        first = r.opt_int("num_dense_layers", 0)
        moe_layers = tuple(range(min(first, L), L))
        kw = dict(**_moe_fields(r, moe_layers, "moe_intermediate_size"),
                  router_score_correction_bias=r.flag("use_expert_bias"),
                  intermediate_size=r.int("intermediate_size") if first else 0)
    return ModelSpec(**c, **kw, qk_norm="head", mixer=mixer if layers else None,
                     mixer_layers=layers)


def _minimax(r: _Reader, name: str) -> ModelSpec:
    """MiniMax-Text-01 / M1 (``modeling_minimax.py``): ``layer_types`` (default: even layers
    full attention, odd layers lightning attention) over a Mixtral block (every layer MoE of
    ``intermediate_size``). Lightning attention: ``qkv_proj``, ``output_gate``, ``out_proj``,
    RMSNorm(a·d) over the attention heads; its slope/decay tensors are buffers."""
    c = _common(r, name)
    L = c["num_hidden_layers"]
    if r.cfg.get("layer_types") is None:
        lt = ["full_attention" if (i + 1) % 2 else "linear_attention" for i in range(L)]
    else:
        lt = _hybrid_schedule(r, "layer_types", L, ("full_attention", "linear_attention"))
    a = c["num_attention_heads"]
    d = c["head_dim"] or c["hidden_size"] // a
    mixer = Mixer(kind="lightning", num_heads=a, head_dim=d)
    layers = _indices(lt, "linear_attention")
    w = _window(r)
    full = _indices(lt, "full_attention")
    return ModelSpec(**c, **_moe_fields(r, tuple(range(L)), "intermediate_size"),
                     mixer=mixer if layers else None, mixer_layers=layers,
                     sliding_window=w if w and full else None,
                     sliding_window_layers=full if w else ())


# ----------------------------------------------------------------------------------------------
# families added for current configs: config classes over another family's model, and quirks
# ----------------------------------------------------------------------------------------------

def _renamed(loader: Callable[[_Reader, str], ModelSpec], names: Mapping[str, str]):
    """A family whose configuration class renames another family's fields
    (transformers' ``attribute_map``): each foreign name present, its own absent, is read under
    the other family's name."""
    def read(r: _Reader, name: str) -> ModelSpec:
        cfg = dict(r.cfg)
        for theirs, ours in names.items():
            if theirs in cfg and ours not in cfg:
                cfg[ours] = cfg.pop(theirs)
        return loader(_Reader(cfg, r.model_type, r.where, r.defaults), name)
    return read


def _afmoe(r: _Reader, name: str) -> ModelSpec:
    """AFMoE (:data:`TABLE`); ``attention_bias`` would put biases on q/k/v/o but not on the
    output gate (``gate_proj`` is bias-free), which the spec's gated attention cannot say."""
    if r.flag("attention_bias"):
        raise EstimatorError(r.where + "attention_bias", True,
                             "AFMoE with attention biases is not modelled (its gate_proj has "
                             "none); no released checkpoint sets it")
    return _from_table(r, name, TABLE["afmoe"])


def _stablelm(r: _Reader, name: str) -> ModelSpec:
    """StableLM (:data:`TABLE`). ``use_parallel_residual``: attention and MLP read one
    ``input_layernorm`` (no ``post_attention_layernorm``). ``qk_layernorm`` builds per-head
    LayerNorms *without* bias while the block's LayerNorms have one, which the spec's norm type
    cannot say: refused (StableLM-2-12B; the 1.6B and 3B models do not set it)."""
    if r.flag("qk_layernorm"):
        raise EstimatorError(r.where + "qk_layernorm", True,
                             "StableLM's bias-free per-head q/k LayerNorms are not modelled yet")
    spec = _from_table(r, name, TABLE["stablelm"])
    return spec.replace(head_dim=0, norms_per_layer=1 if r.flag("use_parallel_residual") else 2)


def _dense_mla(r: _Reader, name: str, mlp_bias: bool, notes: tuple[str, ...] = ()) -> ModelSpec:
    """A Llama decoder layer and dense SwiGLU MLP around DeepSeek's MLA (q_a/kv_a/o biases with
    attention_bias; transformers caches the compressed latent).

    MiniCPM3 (``modular_minicpm3.py``, ``MiniCPM3Attention(DeepseekV2Attention)``): the MLP
    honours ``mlp_bias``; ``v_head_dim`` null → ``hidden_size // num_attention_heads``
    (``MiniCPM3Config.__post_init__``, which also sets ``head_dim`` to the rotary part, whatever
    the file says); muP scalings (``scale_emb``, ``scale_depth``, ``dim_model_base``) have no
    parameters. Youtu-LLM (``modular_youtu.py``: ``YoutuAttention(DeepseekV3Attention)``,
    ``YoutuMLP(Qwen3MLP)``: no MLP bias) has DeepSeek-V3's MLA defaults."""
    c = _common(r, name)
    h, a = c["hidden_size"], c["num_attention_heads"]
    c["num_key_value_heads"] = a  # MLA: every head has its own K and V after decompression
    v = r.opt_int("v_head_dim", 1, allow_none=True)
    mla = MLA(q_lora_rank=r.opt_int("q_lora_rank", 1, allow_none=True),
              kv_lora_rank=r.opt_int("kv_lora_rank", 1),
              qk_nope_head_dim=r.opt_int("qk_nope_head_dim", 0),
              qk_rope_head_dim=r.opt_int("qk_rope_head_dim", 1),
              v_head_dim=h // a if v is None else v)
    c["head_dim"] = mla.v_head_dim  # unused by MLA counts, as in _deepseek
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.int("intermediate_size"),
                     ffn_bias=mlp_bias and r.flag("mlp_bias"), mla=mla, attention_bias=ab,
                     attention_out_bias=ab, notes=notes)


def _hyperclovax(r: _Reader, name: str) -> ModelSpec:
    """HyperCLOVA X (``modular_hyperclovax.py``): Granite's block (attention_bias on q/k/v/o,
    mlp_bias; muP multipliers without parameters) plus, with ``use_post_norm`` (default), two
    post-norms (``post_norm1`` after attention, ``post_norm2`` after the MLP): four norms per
    layer."""
    spec = _from_table(r, name, TABLE["granite"])
    return spec.replace(model_type=r.model_type,
                        norms_per_layer=4 if r.flag("use_post_norm") else 2)


def _mpt(r: _Reader, name: str) -> ModelSpec:
    """MPT (``modeling_mpt.py``): fused ``Wqkv`` (h → 3h, MHA, head_dim = h/a) and
    ``out_proj`` without bias; LayerNorms whose bias transformers deletes (``norm_1``,
    ``norm_2``, ``norm_f``: weight only); a plain GELU MLP ``up_proj``/``down_proj`` of 4h
    without bias; the lm_head tied by default; ALiBi (no parameters). transformers builds the
    MLP 4h wide and every projection bias-free whatever ``expansion_ratio`` / ``no_bias`` say
    (MosaicML's own code honours them): we count what transformers builds and say so."""
    L, h, a = r.int("n_layers"), r.int("d_model"), r.int("n_heads")
    if h % a:  # MptAttention splits hidden_size into n_heads heads
        raise EstimatorError(r.name_of("n_heads"), a, f"must divide d_model={h}")
    notes = ["ALiBi position biases (no parameters)"]
    ratio = r.cfg.get("expansion_ratio", 4)
    if ratio != 4 or r.cfg.get("no_bias") is False:
        notes.append("transformers' MPT ignores expansion_ratio and no_bias (4h MLP, no biases); "
                     "counted as transformers builds it")
    return ModelSpec(name=name, model_type="mpt", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=False, fused_qkv=True,
                     intermediate_size=4 * h, gated_ffn=False,
                     max_position_embeddings=r.cfg.get("max_seq_len"), notes=tuple(notes))


def _opt(r: _Reader, name: str) -> ModelSpec:
    """OPT (``modeling_opt.py``): learned positions with OPT's offset of 2
    (``OPTLearnedPositionalEmbedding``: ``max_position_embeddings + 2`` rows); q/k/v/out and a
    plain ReLU MLP ``fc1``/``fc2`` of ``ffn_dim`` with ``enable_bias``; LayerNorms with bias
    (none with ``layer_norm_elementwise_affine`` false); MHA, head_dim = h/a; the lm_head tied
    by default. OPT-350m's layout (``word_embed_proj_dim`` != ``hidden_size``: project_in/out
    matrices; ``do_layer_norm_before`` false: post-norms and no final norm) is refused."""
    L, h, a = (r.int(k) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads"))
    if h % a:  # OPTAttention refuses it
        raise EstimatorError(r.name_of("num_attention_heads"), a, f"must divide hidden_size={h}")
    proj = r.opt_int("word_embed_proj_dim", 1, allow_none=True)
    if proj is not None and proj != h:
        raise EstimatorError(r.name_of("word_embed_proj_dim"), proj,
                             f"OPT with project_in/out ({proj} != hidden_size {h}, OPT-350m) is "
                             "not modelled yet")
    if not r.flag("do_layer_norm_before") or r.cfg.get("_remove_final_layer_norm"):
        raise EstimatorError(r.name_of("do_layer_norm_before"), r.opt("do_layer_norm_before"),
                             "OPT's post-norm layout without a final norm (OPT-350m) is not "
                             "modelled yet")
    P = r.int("max_position_embeddings")
    check_int(r.name_of("max_position_embeddings"), P, 1, MAX_CONTEXT)
    b = r.flag("enable_bias")
    return ModelSpec(name=name, model_type="opt", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True,
                     norm_weight=r.flag("layer_norm_elementwise_affine"),
                     attention_bias=b, attention_out_bias=b, intermediate_size=r.int("ffn_dim"),
                     gated_ffn=False, ffn_bias=b, position_embeddings=P + 2,
                     max_position_embeddings=P)


def _aria_text(r: _Reader, name: str) -> ModelSpec:
    """Aria's language model (:data:`TABLE`). transformers builds the shared MLP even with
    ``moe_num_shared_experts`` 0 (zero-width linears; with ``mlp_bias`` its ``down_proj`` still
    has an h-wide bias per layer), which the spec's shared experts cannot say: refused."""
    if r.opt_int("moe_num_shared_experts") == 0 and r.flag("mlp_bias"):
        raise EstimatorError(r.name_of("moe_num_shared_experts"), 0,
                             "with mlp_bias the zero-width shared MLP keeps a down_proj bias; "
                             "not modelled (use 1 or more shared experts, or mlp_bias false)")
    return _from_table(r, name, TABLE["aria_text"])


def _apertus(r: _Reader, name: str) -> ModelSpec:
    """Apertus (:data:`TABLE`): ``hidden_act`` "xielu" (the default) is
    ``activations.XIELUActivation``, two learned scalars per MLP (``alpha_p``, ``alpha_n``); no
    other activation of transformers has parameters."""
    act = r.cfg.get("hidden_act", "xielu")
    spec = _from_table(r, name, TABLE["apertus"])
    return spec.replace(ffn_activation_params=2 if act == "xielu" else 0)


def _apertus1p5_text(r: _Reader, name: str) -> ModelSpec:
    """Apertus-1.5's text model (``modeling_apertus1p5.Apertus1p5TextForCausalLM``): Apertus's
    block, and an lm_head that may be pruned to the first ``output_vocab_size`` tokens (the
    text prefix of a vocabulary that also holds image and audio codes) while the input
    embedding keeps all ``vocab_size`` rows (:attr:`ModelSpec.output_vocab_size`; null or equal
    to vocab_size: unpruned, as ``Apertus1p5TextConfig.__post_init__`` normalizes it)."""
    spec = _apertus(r, name)
    out = r.opt_int("output_vocab_size", 1, allow_none=True)
    return spec.replace(output_vocab_size=0 if out in (None, spec.vocab_size) else out)


#: Families whose transformers model class is another family's (``MODEL_FOR_CAUSAL_LM_MAPPING``
#: maps them to it): ``model_type`` → the family whose class and loader they use.
SHARED_CLASS: dict[str, str] = {
    "sarvam_moe": "glm4_moe", "exaone": "llama", "internlm3": "llama", "iquestcoder": "llama",
    "sarvam_mla": "deepseek_v3",
    "gpt-sw3": "gpt2",  # GPT-SW3 (AI Sweden): GPT2Config and GPT2LMHeadModel
}

#: Their loaders: the other family's, reading the config class's own names and defaults.
_SHARED_CLASS_LOADERS: dict[str, Callable[[_Reader, str], ModelSpec]] = {
    # Sarvam-M MoE (configuration_sarvam_moe.py; no modeling file: transformers builds
    # Glm4MoeForCausalLM). Its original config names experts, shared experts and q/k/v bias
    # num_experts / num_shared_experts / use_qkv_bias (SarvamMoEConfig.attribute_map).
    "sarvam_moe": _renamed(_glm4_moe, {"num_shared_experts": "n_shared_experts",
                                       "use_qkv_bias": "attention_bias"}),
    # EXAONE-3/3.5 (configuration_exaone.py → LlamaForCausalLM); EXAONE's own config.json
    # says num_layers (ExaoneConfig.attribute_map).
    "exaone": _renamed(_llama, {"num_layers": "num_hidden_layers"}),
    # InternLM3 (configuration_internlm3.py → LlamaForCausalLM): qkv_bias / bias are
    # attention_bias / mlp_bias (InternLM3Config.attribute_map).
    "internlm3": _renamed(_llama, {"qkv_bias": "attention_bias", "bias": "mlp_bias"}),
    # IQuest-Coder (configuration_iquestcoder.py → LlamaForCausalLM).
    "iquestcoder": _llama,
    # Sarvam MLA (configuration_sarvam_mla.py → DeepseekV3ForCausalLM): DeepSeek-V3 with
    # q_lora_rank null by default; num_shared_experts is n_shared_experts
    # (SarvamMLAConfig.attribute_map); the original file's head_dim / q_head_dim are ignored.
    "sarvam_mla": _renamed(lambda r, n: _deepseek(r, n, v3=True),
                           {"num_shared_experts": "n_shared_experts"}),
}


# ----------------------------------------------------------------------------------------------
# Qwen3.5 (Gated DeltaNet + gated attention, dense or MoE)
# ----------------------------------------------------------------------------------------------

def _gdn_schedule(r: _Reader, L: int) -> list[str]:
    """Qwen3.5's ``layer_types`` (``Qwen3_5TextConfig.__post_init__``): absent, every
    ``full_attention_interval``-th layer (default 4) is full attention, the rest Gated
    DeltaNet — the rule of Qwen3-Next."""
    if r.cfg.get("layer_types") is None:
        every = check_int(r.where + "full_attention_interval",
                          r.cfg.get("full_attention_interval", 4), 1)
        return ["linear_attention" if (i + 1) % every else "full_attention" for i in range(L)]
    return _hybrid_schedule(r, "layer_types", L, ("linear_attention", "full_attention"))


def _qwen3_5(r: _Reader, name: str, moe: bool) -> ModelSpec:
    """Qwen3.5 text model (``modeling_qwen3_5.py``, ``modeling_qwen3_5_moe.py``): Qwen3-Next's
    hybrid with the Gated DeltaNet input projection split into ``in_proj_qkv``/``in_proj_z``/
    ``in_proj_b``/``in_proj_a`` (the same weights as Qwen3-Next's fused ``in_proj_qkvz`` and
    ``in_proj_ba``); gated full attention (``q_proj`` h → 2·a·d) with per-head q/k RMSNorm.
    Dense (``Qwen3_5DecoderLayer``): a SwiGLU MLP of ``intermediate_size`` in every layer. MoE
    (``Qwen3_5MoeDecoderLayer``): every layer is Qwen2-MoE's sparse block (routed experts of
    ``moe_intermediate_size``, one shared expert of ``shared_expert_intermediate_size`` with a
    sigmoid gate h → 1); there is no ``decoder_sparse_step``/``mlp_only_layers``. Partial RoPE
    and M-RoPE sections have no parameters."""
    c = _common(r, name)
    L = c["num_hidden_layers"]
    lt = _gdn_schedule(r, L)
    if moe:
        f_sh = r.int("shared_expert_intermediate_size")
        kw: dict[str, Any] = dict(**_moe_fields(r, tuple(range(L)), "moe_intermediate_size"),
                                  intermediate_size=0, num_shared_experts=1,
                                  shared_expert_intermediate_size=f_sh, shared_expert_gate=True)
    else:
        kw = dict(intermediate_size=r.int("intermediate_size"))
    mixer = _gated_deltanet(r)
    ab = r.flag("attention_bias")
    layers = _indices(lt, "linear_attention")
    return ModelSpec(**c, **kw, attention_bias=ab, attention_out_bias=ab, qk_norm="head",
                     attention_output_gate=True, mixer=mixer if layers else None,
                     mixer_layers=layers)


# ----------------------------------------------------------------------------------------------
# DeepSeek-V3.2 (sparse attention) and Kimi-Linear (Kimi Delta Attention)
# ----------------------------------------------------------------------------------------------

def _deepseek_v32(r: _Reader, name: str) -> ModelSpec:
    """DeepSeek-V3.2-Exp (``modeling_deepseek_v32.py``): DeepSeek-V3 (MoE layers from
    ``mlp_layer_types``, default the first ``first_k_dense_replace`` dense; MTP layers from
    ``num_nextn_predict_layers``, outside the main model) whose every MLA layer carries DeepSeek
    Sparse Attention's lightning indexer (``index_n_heads`` heads of ``index_head_dim``, top
    ``index_topk`` tokens; :class:`~estimator.spec.MLA`). Its attention always uses the
    Q-LoRA path (``AXK1Attention``): ``q_lora_rank`` must be set."""
    spec = _deepseek(r, name, v3=True, layers=_sparse_mlp_layer_types(
        lambda r: r.opt_int("first_k_dense_replace", 0)))
    if r.opt("q_lora_rank") is None:
        raise EstimatorError(r.name_of("q_lora_rank"), None, f"required for model_type "
                             f"'{r.model_type}' (its attention and indexer read the q_a_proj "
                             "latent)")
    mla = dataclasses.replace(spec.mla, index_n_heads=r.opt_int("index_n_heads", 1),
                              index_head_dim=r.opt_int("index_head_dim", 1),
                              index_topk=r.opt_int("index_topk", 1, ))
    return spec.replace(mla=mla, notes=spec.notes + (
        "DeepSeek Sparse Attention: MLA attends to the index_topk tokens its lightning "
        "indexer selects",))


def _glm_indexer_types(r: _Reader, L: int) -> list[str]:
    """GLM-MoE-DSA's per-layer indexer kinds, as ``GlmMoeDsaConfig.__post_init__`` derives them:
    ``indexer_types`` ("full" / "shared"); else ``index_topk_pattern`` (a string of ``F``/``S``
    or a list); else layer i is "full" iff ``max(i − offset + 1, 0) % freq == 0`` with
    ``freq = max(index_topk_freq, 1)``, ``offset = index_skip_topk_offset``."""
    key, kinds = "indexer_types", r.opt("indexer_types")
    if kinds is None and r.opt("index_topk_pattern") is not None:
        key, pat = "index_topk_pattern", r.opt("index_topk_pattern")
        if isinstance(pat, str):
            bad = next((i for i, c in enumerate(pat) if c not in "FS"), None)
            if bad is not None:
                raise EstimatorError(r.where + f"{key}[{bad}]", pat[bad], "must be 'F' or 'S'")
            kinds = [{"F": "full", "S": "shared"}[c] for c in pat]
        else:
            kinds = pat
    if kinds is None:
        freq = r.opt("index_topk_freq")
        freq = max(check_int(r.name_of("index_topk_freq"), freq, -MAX_CONTEXT), 1)
        off = check_int(r.name_of("index_skip_topk_offset"), r.opt("index_skip_topk_offset"),
                        -MAX_CONTEXT)
        return ["full" if max(i - off + 1, 0) % freq == 0 else "shared" for i in range(L)]
    if not isinstance(kinds, (list, tuple)) or len(kinds) != L:
        raise EstimatorError(r.where + key, kinds, f"must list {L} indexer kinds (one per layer)")
    for i, k in enumerate(kinds):
        if k not in ("full", "shared"):
            raise EstimatorError(r.where + f"{key}[{i}]", k, "must be 'full' or 'shared'")
    if kinds and kinds[0] == "shared":  # GlmMoeDsaAttention.forward raises on it
        raise EstimatorError(r.where + f"{key}[0]", "shared", "the first layer must run its "
                             "own indexer ('full'): a shared layer reuses an earlier one's top-k")
    return list(kinds)


def _glm_moe_dsa(r: _Reader, name: str) -> ModelSpec:
    """GLM-5 / GLM-5.1 (``modeling_glm_moe_dsa.py``): DeepSeek-V3.2 (MLA with DSA's lightning
    indexer on every layer, DeepSeek-V3's MoE, MoE layers from ``mlp_layer_types``, default
    after the first ``first_k_dense_replace``) whose indexer applies interleaved RoPE (no count
    changes). GLM-5.2's IndexShare (arXiv 2603.12201: ``indexer_types`` "shared" layers build
    no indexer and reuse an earlier layer's top-k) changes the indexer's weights, keys and
    scoring per layer, which the spec (one indexer per MLA layer) cannot say yet: refused,
    naming the field."""
    spec = _deepseek_v32(r, name)
    kinds = _glm_indexer_types(r, spec.num_hidden_layers)
    if "shared" in kinds:
        key = "indexer_types" if r.opt("indexer_types") is not None else (
            "index_topk_pattern" if r.opt("index_topk_pattern") is not None
            else "index_topk_freq")
        raise EstimatorError(r.where + key, r.opt(key),
                             f"IndexShare ({kinds.count('shared')} of {len(kinds)} layers "
                             "reuse an earlier indexer's top-k, GLM-5.2) is not modelled yet: "
                             "only configs whose every layer runs its own indexer load")
    return spec


# ----------------------------------------------------------------------------------------------
# DeepSeek-V4 (compressed attention, hyper-connections, hash-routed MoE)
# ----------------------------------------------------------------------------------------------

#: DeepSeek-V4's ``layer_types`` and the legacy per-layer ``compress_ratios`` they replace
#: (``configuration_deepseek_v4._COMPRESS_RATIO_TO_LAYER_TYPE``).
_V4_RATIO_TO_TYPE = {0: "sliding_attention", 4: "compressed_sparse_attention",
                     128: "heavily_compressed_attention"}


def _v4_list(r: _Reader, key: str, allowed: tuple, L: int) -> list | None:
    """``key`` (a list of per-layer kinds from ``allowed``) cut to ``L`` entries, as
    ``DeepseekV4Config.__post_init__`` does (published configs list the MTP layer too)."""
    v = r.cfg.get(key)
    if v is None:
        return None
    if not isinstance(v, (list, tuple)) or len(v) < L:
        raise EstimatorError(r.where + key, v, f"must be a list of at least {L} entries")
    for i, x in enumerate(v[:L]):
        if x not in allowed:
            raise EstimatorError(r.where + f"{key}[{i}]", x,
                                 "must be one of " + ", ".join(map(str, allowed)))
    return list(v[:L])


def _v4_rates(r: _Reader) -> tuple[int, int]:
    """``(CSA rate, HCA rate)``: ``compress_rates`` (default 4 and 128), overridden by the
    legacy ``compress_rate_csa`` / ``compress_rate_hca`` (``DeepseekV4Config.__post_init__``)."""
    rates = r.cfg.get("compress_rates") or {}
    if not isinstance(rates, dict):
        raise EstimatorError(r.where + "compress_rates", rates, "must be a mapping")
    out = []
    for kind, legacy, default in (("compressed_sparse_attention", "compress_rate_csa", 4),
                                  ("heavily_compressed_attention", "compress_rate_hca", 128)):
        v = r.cfg.get(legacy)
        name = legacy
        if v is None:
            v, name = rates.get(kind, default), f"compress_rates.{kind}"
        out.append(check_int(r.where + name, v, 1, MAX_CONTEXT))
    return out[0], out[1]


def _deepseek_v4(r: _Reader, name: str) -> ModelSpec:
    """DeepSeek-V4 (``modeling_deepseek_v4.py``; :class:`~estimator.spec.CompressedAttention`,
    :mod:`estimator.compressed`). Schedules as ``DeepseekV4Config.__post_init__`` derives them:
    ``layer_types`` (else the legacy per-layer ``compress_ratios`` 0/4/128, else two HCA layers
    then CSA and HCA alternating) and ``mlp_layer_types`` (else the first ``num_hash_layers``,
    default 3, hash-routed). Every layer is MoE with one shared expert of width
    ``moe_intermediate_size`` (``DeepseekV4MLP`` reads it through ``intermediate_size``;
    ``n_shared_experts`` is not read) and attends over ``sliding_window`` raw keys with one
    K=V head (``num_key_value_heads`` is not read). The MTP layers
    (``num_nextn_predict_layers``) are in the checkpoint, not in transformers' model, and have
    V4's own block: not counted."""
    c = _common(r, name)
    L = c["num_hidden_layers"]
    lt = _v4_list(r, "layer_types", tuple(_V4_RATIO_TO_TYPE.values()), L)
    if lt is None:
        ratios = _v4_list(r, "compress_ratios", tuple(_V4_RATIO_TO_TYPE), L)
        if ratios is not None:
            lt = [_V4_RATIO_TO_TYPE[x] for x in ratios]
        else:
            lt = (["heavily_compressed_attention"] * min(L, 2)
                  + ["compressed_sparse_attention" if i % 2 else "heavily_compressed_attention"
                     for i in range(max(L - 2, 0))])
    mt = _v4_list(r, "mlp_layer_types", ("hash_moe", "moe"), L)
    if mt is None:
        n_hash = r.cfg.get("num_hash_layers")
        n_hash = 3 if n_hash is None else check_int(r.where + "num_hash_layers", n_hash, 0)
        mt = ["hash_moe"] * min(L, n_hash) + ["moe"] * max(0, L - n_hash)
    csa_rate, hca_rate = _v4_rates(r)
    f_e = r.int("moe_intermediate_size")
    moe = _moe_fields(r, tuple(range(L)), "moe_intermediate_size")
    c.update(num_key_value_heads=1, head_dim=r.opt_int("head_dim", 1))
    block = CompressedAttention(
        q_lora_rank=r.opt_int("q_lora_rank", 1), o_groups=r.opt_int("o_groups", 1),
        o_lora_rank=r.opt_int("o_lora_rank", 1), hc_mult=r.opt_int("hc_mult", 1),
        csa_layers=tuple(i for i, t in enumerate(lt) if t == "compressed_sparse_attention"),
        hca_layers=tuple(i for i, t in enumerate(lt) if t == "heavily_compressed_attention"),
        csa_rate=csa_rate, hca_rate=hca_rate,
        index_n_heads=r.opt_int("index_n_heads", 1), index_head_dim=r.opt_int("index_head_dim", 1),
        index_topk=r.opt_int("index_topk", 1),
        hash_moe_layers=tuple(i for i, t in enumerate(mt) if t == "hash_moe"))
    if (c["num_attention_heads"] * c["head_dim"]) % block.o_groups:
        raise EstimatorError(r.name_of("o_groups"), block.o_groups,
                             f"must divide num_attention_heads x head_dim="
                             f"{c['num_attention_heads'] * c['head_dim']}")
    w = _window(r)
    if w is None:
        raise EstimatorError(r.name_of("sliding_window"), r.opt("sliding_window"),
                             "DeepSeek-V4 attends over a sliding window on every layer")
    n_mtp = r.opt_int("num_nextn_predict_layers", 0)
    notes = ("DeepSeek-V4: every layer attends over its last sliding_window raw keys; "
             f"{len(block.csa_layers)} CSA layers add 1 compressed entry per {csa_rate} tokens "
             f"(top {block.index_topk} by the lightning indexer), {len(block.hca_layers)} HCA "
             f"layers 1 per {hca_rate}; {block.hc_mult} hyper-connection streams",)
    if n_mtp:
        notes += (f"{n_mtp} MTP layer(s) in the checkpoint, outside transformers' model: not "
                  "counted",)
    return ModelSpec(**c, **moe, intermediate_size=0, num_shared_experts=1,
                     shared_expert_intermediate_size=f_e, sliding_window=w,
                     sliding_window_layers=tuple(range(L)), compressed_attention=block,
                     notes=notes)


# ----------------------------------------------------------------------------------------------
# LongCat-Flash (zero-computation experts, shortcut-connected MoE)
# ----------------------------------------------------------------------------------------------

def _longcat_layers(r: _Reader) -> int:
    """LongCat-Flash's ``num_layers`` (each holds two attention sublayers); a config with only
    ``num_hidden_layers`` gives ``num_hidden_layers // 2``, as LongcatFlashConfig's setter
    does. Both present: transformers keeps the halved ``num_hidden_layers``; we refuse a pair
    that disagrees instead of guessing which one the file meant."""
    if "num_layers" not in r.cfg and r.cfg.get("num_hidden_layers") is not None:
        return check_int(r.where + "num_hidden_layers", r.cfg["num_hidden_layers"], 2) // 2
    n = r.int("num_layers")
    L = r.cfg.get("num_hidden_layers")
    if L is not None and L != 2 * n:
        raise EstimatorError(r.where + "num_hidden_layers", L,
                             f"must be 2 x num_layers={2 * n} (two attention sublayers each)")
    return n


def _longcat_flash(r: _Reader, name: str) -> ModelSpec:
    """LongCat-Flash (``modeling_longcat_flash.py``; arXiv 2509.01322 §2), as sublayers.

    Each of ``num_layers`` layers holds two sublayers of (RMSNorm, MLA, RMSNorm, dense MLP of
    width ``ffn_hidden_size``) and one MoE fed by the first sublayer's post-attention norm, its
    output added after the second (the "shortcut-connected MoE"). The spec has the
    ``2·num_layers`` sublayers (transformers' ``num_hidden_layers`` and cache layers); the MoE
    sits on the even ones, whose dense MLP (``mlps[0]``: same input, same shape, output summed
    with the experts') is counted as that MoE layer's shared expert; the odd ones have the
    dense MLP. The router scores ``n_routed_experts + zero_expert_num`` (identity "zero
    experts") and picks ``moe_topk``; ``num_experts_per_tok`` is the real experts per token
    under the ``uniform`` convention (:data:`~estimator.params.ZERO_EXPERT_CONVENTIONS`).
    Routed experts have no biases; MLA is DeepSeek's with the Q-LoRA path always (its LoRA
    scalings have no parameters); ``e_score_correction_bias`` is a buffer of ``E + Z``."""
    from .params import real_experts_per_token  # params imports nothing from here

    n = _longcat_layers(r)
    cfg = {**r.cfg, "num_hidden_layers": 2 * n}
    r = _Reader(cfg, r.model_type, r.where, r.defaults)
    c = _common(r, name)
    c["num_key_value_heads"] = c["num_attention_heads"]  # MLA: per-head K/V
    E = r.int("num_experts")
    K = r.int("num_experts_per_tok")
    Z = r.opt_int("zero_expert_num", 0)
    if K > E + Z:
        raise EstimatorError(r.name_of("num_experts_per_tok"), K, f"must not exceed "
                             f"{r.name_of('num_experts')} + zero_expert_num={E + Z}")
    if r.opt("q_lora_rank") is None:
        raise EstimatorError(r.name_of("q_lora_rank"), None, "required for model_type "
                             "'longcat_flash' (LongcatFlashMLA always builds q_a_proj)")
    mla = MLA(q_lora_rank=r.opt_int("q_lora_rank", 1), kv_lora_rank=r.opt("kv_lora_rank"),
              qk_nope_head_dim=r.opt("qk_nope_head_dim"),
              qk_rope_head_dim=r.opt("qk_rope_head_dim"), v_head_dim=r.opt("v_head_dim"))
    f = r.int("ffn_hidden_size")
    ab = r.flag("attention_bias")
    k = real_experts_per_token(E, Z, K) if Z else K
    c["head_dim"] = mla.v_head_dim  # unused by MLA counts; keeps validation meaningful
    notes = ("two attention sublayers per layer: num_hidden_layers counts the "
             f"{2 * n} sublayers of {n} layers; the MoE on every even sublayer, beside its "
             "dense MLP (counted as that layer's shared expert; the shortcut adds the MoE "
             "output one sublayer later)",)
    if Z:
        notes += (f"zero-computation experts: the router picks {K} of {E} routed + {Z} "
                  f"identity experts; {k} real experts per token assumed (uniform: "
                  f"{K}·{E}/{E + Z}, the card's average); sweep num_experts_per_tok over "
                  f"{max(1, K - Z)}..{min(K, E)} for the range",)
    return ModelSpec(**c, num_experts=E, num_experts_per_tok=k, moe_intermediate_size=r.int(
        "expert_ffn_hidden_size"), moe_layers=tuple(range(0, 2 * n, 2)),
        num_zero_experts=Z, router_top_k=K if Z else 0,
        intermediate_size=f, num_shared_experts=1, shared_expert_intermediate_size=f,
        mla=mla, attention_bias=ab, attention_out_bias=ab,
        router_bias=r.flag("router_bias"), router_score_correction_bias=True,
        notes=notes + ("the multi-token-prediction module (model.mtp.*) ships in the "
                       "checkpoint; transformers skips it and it is not counted",))


def _kda_hybrid_trunk(r: _Reader, name: str) -> ModelSpec:
    """The DeepSeek-V3 trunk under Kimi-Linear's and Ling 3.0's KDA layers: MLA attention and
    the MoE (``mlp_layer_types``, else all but the first ``first_k_dense_replace``), no tied
    head and no MTP, ``num_shared_experts`` / ``model_max_length`` read as DeepSeek's names
    when those are absent (both families' configs use them)."""
    cfg = {**r.cfg, "tie_word_embeddings": False}
    if "n_shared_experts" not in cfg and "num_shared_experts" in cfg:
        cfg["n_shared_experts"] = cfg["num_shared_experts"]
    if "max_position_embeddings" not in cfg and "model_max_length" in cfg:
        cfg["max_position_embeddings"] = cfg["model_max_length"]
    r2 = _Reader(cfg, r.model_type, r.where, r.defaults)
    return _deepseek(r2, name, v3=True, mtp=False, layers=_sparse_mlp_layer_types(
        lambda r: r.opt_int("first_k_dense_replace", 0)))


def _kimi_linear(r: _Reader, name: str) -> ModelSpec:
    """Kimi-Linear (``modeling_kimi_linear.py``): Kimi Delta Attention layers and MLA layers
    (NoPE; ``q_lora_rank`` null → one ``q_proj``) over DeepSeek-V3's MoE (shared experts of
    ``num_shared_experts·moe_intermediate_size``, correction-bias buffer). The schedule is
    ``layer_types`` or the checkpoint's ``linear_attn_config`` (``full_attn_layers`` /
    ``kda_layers``, 1-based); without either, layer i > 0 with ``i % 4 == 0`` is MLA
    (``KimiLinearConfig.__post_init__``). The KDA sizes come from ``linear_attn_config``
    (``head_dim``, ``num_heads``, ``short_conv_kernel_size``) or the flat ``linear_*`` keys.
    MoE layers: ``mlp_layer_types``, default all but the first ``first_k_dense_replace``.
    ``KimiLinearForCausalLM`` ties nothing (``_tied_weights_keys = {}``)."""
    lac = r.cfg.get("linear_attn_config") or {}
    if not isinstance(lac, Mapping):
        raise EstimatorError("linear_attn_config", lac, "must be a mapping")
    L = r.int("num_hidden_layers")
    if r.cfg.get("layer_types") is not None:
        lt = _hybrid_schedule(r, "layer_types", L, ("linear_attention", "full_attention"))
    elif "full_attn_layers" in lac and "kda_layers" in lac:
        lt = [None] * L
        for key, kind in (("full_attn_layers", "full_attention"), ("kda_layers",
                                                                     "linear_attention")):
            one_based = lac[key]
            if not isinstance(one_based, (list, tuple)):
                raise EstimatorError(f"linear_attn_config.{key}", one_based,
                                     "must be a list of 1-based layer numbers")
            for j, i in enumerate(one_based):
                if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= L:
                    raise EstimatorError(f"linear_attn_config.{key}[{j}]", i,
                                         f"must be a layer number in [1, {L}] (1-based)")
                lt[i - 1] = kind
        if None in lt:
            raise EstimatorError("linear_attn_config.kda_layers", lt.index(None) + 1,
                                 "layer is in neither kda_layers nor full_attn_layers")
    else:
        lt = ["full_attention" if i and i % 4 == 0 else "linear_attention" for i in range(L)]
    spec = _kda_hybrid_trunk(r, name)

    def size(key: str, flat: str) -> int:
        if key in lac:
            return check_int(f"linear_attn_config.{key}", lac[key], 1)
        return r.opt_int(flat, 1)

    H, D = size("num_heads", "linear_num_heads"), size("head_dim", "linear_head_dim")
    mixer = Mixer(kind="kimi_delta", num_heads=H, head_dim=D, num_k_heads=H, head_k_dim=D,
                  conv_kernel=size("short_conv_kernel_size", "linear_conv_kernel_dim"))
    layers = _indices(lt, "linear_attention")
    return spec.replace(mixer=mixer if layers else None, mixer_layers=layers)


def _bailing_hybrid(r: _Reader, name: str) -> ModelSpec:
    """Ling 3.0 / BailingHybrid (``modeling_bailing_hybrid.py``): KDA-like delta attention
    (``BailingHybridDeltaAttention``: Kimi-Linear's KDA with full-rank forget and output gates,
    ``f_proj`` and ``g_proj`` h → H·D, and one conv over q, k, v) interleaved with MLA
    (``BailingHybridAttention``: DeepSeek's MLA, RoPE on ``qk_rope_head_dim``, plus a sigmoid
    gate per head ``g_proj`` h → a) over DeepSeek-V3's MoE (group-limited sigmoid router with
    an fp32 ``E × h`` weight and the ``e_score_correction_bias`` buffer, shared experts of
    ``n_shared_experts·moe_intermediate_size``). Schedule: ``layer_types``, else the last
    layer of every ``layer_group_size`` is MLA (``BailingHybridConfig.__post_init__``); MoE
    where ``mlp_layer_types`` says ``sparse``, else all but the first ``first_k_dense_replace``.
    KDA sizes: ``linear_num_heads`` / ``linear_head_dim`` / ``linear_conv_kernel_dim`` when
    given, else ``num_attention_heads`` / ``head_dim`` / ``short_conv_kernel_size`` (the config
    sets the former from the latter, then lets explicit keys override). Nothing is tied
    (``_tied_weights_keys = {}``); the checkpoint's MTP layers are skipped by transformers."""
    L = r.int("num_hidden_layers")
    if r.cfg.get("layer_types") is not None:
        lt = _hybrid_schedule(r, "layer_types", L, ("linear_attention", "full_attention"))
    else:
        g = r.opt_int("layer_group_size", 1)
        lt = ["full_attention" if (i + 1) % g == 0 else "linear_attention" for i in range(L)]
    spec = _kda_hybrid_trunk(r, name)

    def size(key: str, fallback: str) -> int:
        return check_int(r.where + key, r.cfg[key], 1) if r.cfg.get(key) is not None \
            else r.opt_int(fallback, 1)

    H, D = size("linear_num_heads", "num_attention_heads"), size("linear_head_dim", "head_dim")
    mixer = Mixer(kind="kimi_delta", num_heads=H, head_dim=D, num_k_heads=H, head_k_dim=D,
                  conv_kernel=size("linear_conv_kernel_dim", "short_conv_kernel_size"),
                  full_rank_gates=True, bounded_gate=r.flag("kda_safe_gate"), fp32_conv=True)
    layers = _indices(lt, "linear_attention")
    mtp = r.opt_int("num_nextn_predict_layers", 0)
    notes = (f"the checkpoint's {mtp} multi-token-prediction layer(s) after the decoder are "
             "skipped by transformers (_keys_to_ignore_on_load_unexpected) and not counted",
             ) if mtp else ()
    return spec.replace(mixer=mixer if layers else None, mixer_layers=layers,
                        attention_head_gate=True, notes=spec.notes + notes)


def _lfm3(r: _Reader, name: str) -> ModelSpec:
    """LFM3 (``modeling_lfm3.py``): LFM2's gated short convolution (``Lfm3ShortConv``) and
    Qwen3-style attention (per-head q/k RMSNorm, biases on q/k/v/o with ``attention_bias``)
    with a sigmoid gate per head (``g_proj`` h → a, ``use_attention_gate``); ``layer_types``
    ``conv`` / ``full_attention`` / ``sliding_attention`` (default: layer i is full attention
    when ``i % 4 == 2``, sliding when ``i % 4 == 0`` and ``i > 0``, else conv —
    ``Lfm3Config.__post_init__``); a SwiGLU MLP of ``intermediate_size`` (``Lfm2MoeMLP``, no
    width adjustment); ``use_sandwich_norm`` adds ``post_operator_norm`` and ``post_ffn_norm``
    to the two pre-norms; ``embedding_norm`` is the final norm; the lm_head tied by default."""
    c = _common(r, name)
    L, h = c["num_hidden_layers"], c["hidden_size"]
    if r.cfg.get("layer_types") is not None:
        lt = _hybrid_schedule(r, "layer_types", L,
                              ("conv", "full_attention", "sliding_attention"))
    else:
        lt = ["full_attention" if i % 4 == 2 else "sliding_attention" if i % 4 == 0 and i > 0
              else "conv" for i in range(L)]
    mixer = Mixer(kind="short_conv", num_heads=1, head_dim=h,
                  conv_kernel=r.opt_int("conv_L_cache", 1), proj_bias=r.flag("conv_bias"))
    layers = _indices(lt, "conv")
    sliding = _indices(lt, "sliding_attention")
    w = _window(r) if sliding else None
    if sliding and w is None:  # transformers' DynamicSlidingWindowLayer cannot be built either
        raise EstimatorError(r.where + "sliding_window", r.opt("sliding_window"),
                             "required (a window of at least 1 token) when layer_types has "
                             "sliding_attention layers")
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.int("intermediate_size"), qk_norm="head",
                     norms_per_layer=4 if r.flag("use_sandwich_norm") else 2,
                     attention_bias=ab, attention_out_bias=ab,
                     attention_head_gate=r.flag("use_attention_gate"),
                     mixer=mixer if layers else None, mixer_layers=layers,
                     sliding_window=w, sliding_window_layers=sliding)


# ----------------------------------------------------------------------------------------------
# softmax-attention decoders moved out of coverage.py's "not_yet": BLOOM, XGLM, BioGPT, BitNet,
# GPT-SW3, GPT-1, CTRL, A.X-K1 (config classes and modeling files of transformers 5.24)
# ----------------------------------------------------------------------------------------------

def _mha_heads(r: _Reader, a_key: str, a: int, h: int, h_key: str) -> None:
    """These attentions split ``h`` into ``a`` heads and refuse a remainder."""
    if h % a:
        raise EstimatorError(r.name_of(a_key), a, f"must divide {h_key}={h}")


def _bloom(r: _Reader, name: str) -> ModelSpec:
    """BLOOM (``modeling_bloom.py``): a LayerNorm on the word embeddings
    (``word_embeddings_layernorm``) before the first block; fused ``query_key_value`` (h → 3h,
    MHA, head_dim = h/a) and ``dense`` with biases; a plain GELU MLP ``dense_h_to_4h`` /
    ``dense_4h_to_h`` of 4h with biases; LayerNorms with bias; ``ln_f``; the lm_head tied by
    default; ALiBi (no parameters; its bias enters the score matmul as ``baddbmm``). Keys:
    ``n_layer`` / ``n_head`` (``BloomConfig.attribute_map``: num_hidden_layers /
    num_attention_heads); the legacy ``n_embed`` overrides ``hidden_size``
    (``BloomConfig.__post_init__``)."""
    L, a = r.int("n_layer"), r.int("n_head")
    if r.cfg.get("n_embed") is not None:
        h, h_key = check_int("n_embed", r.cfg["n_embed"], 1), "n_embed"
    else:
        h, h_key = r.int("hidden_size"), "hidden_size"
    _mha_heads(r, "n_head", a, h, h_key)
    return ModelSpec(name=name, model_type="bloom", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, embedding_norm=True,
                     attention_bias=True, attention_out_bias=True, fused_qkv=True,
                     intermediate_size=4 * h, gated_ffn=False, ffn_bias=True,
                     notes=("ALiBi position biases (no parameters)",))


def _xglm(r: _Reader, name: str) -> ModelSpec:
    """XGLM (``modeling_xglm.py``): sinusoidal positions (a buffer, no parameters); q/k/v/out
    with biases (MHA, head_dim = h/a); a plain MLP ``fc1``/``fc2`` of ``ffn_dim`` with biases;
    LayerNorms with bias (``self_attn_layer_norm``, ``final_layer_norm``, ``layer_norm``); the
    lm_head tied by default; the embedding scale sqrt(h) is no parameter. Keys: ``num_layers``,
    ``d_model``, ``attention_heads`` (``XGLMConfig.attribute_map``). ``add_cross_attention``
    (a seq2seq decoder) is refused."""
    if r.flag("add_cross_attention"):
        raise EstimatorError("add_cross_attention", True, "cross-attention decoders are out of "
                             "scope (the estimator models decoder-only LLMs)")
    L, h, a = r.int("num_layers"), r.int("d_model"), r.int("attention_heads")
    _mha_heads(r, "attention_heads", a, h, "d_model")
    return ModelSpec(name=name, model_type="xglm", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, attention_bias=True,
                     attention_out_bias=True, intermediate_size=r.int("ffn_dim"),
                     gated_ffn=False, ffn_bias=True,
                     max_position_embeddings=r.cfg.get("max_position_embeddings"),
                     notes=("sinusoidal positions (no parameters)",))


def _biogpt(r: _Reader, name: str) -> ModelSpec:
    """BioGPT (``modeling_biogpt.py``): learned positions with an offset of 2
    (``BioGptLearnedPositionalEmbedding``: ``max_position_embeddings + 2`` rows, as OPT);
    q/k/v/out with biases (MHA, head_dim = h/a); a plain GELU MLP ``fc1``/``fc2`` of
    ``intermediate_size`` with biases; LayerNorms with bias; the output head
    (``output_projection``) tied by default; the embedding scale is no parameter."""
    L, h, a = (r.int(k) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads"))
    _mha_heads(r, "num_attention_heads", a, h, "hidden_size")
    P = check_int(r.name_of("max_position_embeddings"), r.int("max_position_embeddings"), 1,
                  MAX_CONTEXT)
    return ModelSpec(name=name, model_type="biogpt", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, attention_bias=True,
                     attention_out_bias=True, intermediate_size=r.int("intermediate_size"),
                     gated_ffn=False, ffn_bias=True, position_embeddings=P + 2,
                     max_position_embeddings=P)


def _bitnet(r: _Reader, name: str) -> ModelSpec:
    """BitNet b1.58 (``modular_bitnet.py``): Llama's block (``attention_bias`` on q/k/v/o) with
    two sub-norms per layer, ``attn_sub_norm`` (RMSNorm(h) before ``o_proj``) and
    ``ffn_sub_norm`` (RMSNorm(f) before ``down_proj`` of the gated bias-free ReLU² MLP):
    ``sub_norms``. ``BitNetConfig`` has no ``head_dim``: h/a. transformers builds 16-bit
    matrices; the released checkpoint packs them ternary (its quantization_config): the count
    is of the parameters, whatever their format."""
    c = _common(r, name)
    _mha_heads(r, "num_attention_heads", c["num_attention_heads"], c["hidden_size"],
               "hidden_size")  # attn_sub_norm (width h) normalizes the a·d-wide heads
    ab = r.flag("attention_bias")
    return ModelSpec(**{**c, "head_dim": 0}, intermediate_size=r.int("intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab, sub_norms=True,
                     notes=("ternary (1.58-bit) weights in the released checkpoint; counted as "
                            "the parameters transformers builds",))


def _openai_gpt(r: _Reader, name: str) -> ModelSpec:
    """GPT-1 (``modeling_openai.py``): learned positions ``positions_embed`` (``n_positions``
    rows); post-norm blocks (``ln_1`` after attention, ``ln_2`` after the MLP) and no final
    norm (``final_norm`` false); fused ``c_attn`` (h → 3h, MHA, head_dim = h/a) and ``c_proj``
    with biases; a plain MLP ``c_fc``/``c_proj`` of 4h with biases; the lm_head tied by
    default. transformers' GPT-1 keeps no KV cache (it recomputes every position); the
    serving estimates assume an engine that caches K and V, as for every other family."""
    L, h, a, P = (r.int(k) for k in ("n_layer", "n_embd", "n_head", "n_positions"))
    check_int(r.name_of("n_positions"), P, 1, MAX_CONTEXT)
    _mha_heads(r, "n_head", a, h, "n_embd")
    return ModelSpec(name=name, model_type="openai-gpt", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, final_norm=False,
                     attention_bias=True, attention_out_bias=True, fused_qkv=True,
                     intermediate_size=4 * h, gated_ffn=False, ffn_bias=True,
                     position_embeddings=P, max_position_embeddings=P,
                     notes=("transformers' GPT-1 keeps no KV cache; engines' K/V cache assumed",))


def _ctrl(r: _Reader, name: str) -> ModelSpec:
    """CTRL (``modeling_ctrl.py``): sinusoidal positions (a buffer of ``n_positions`` rows, no
    parameters); ``Wq``/``Wk``/``Wv``/``dense`` with biases (MHA, head_dim = h/a); a plain ReLU
    MLP (``ffn``: Linear(h, dff), Linear(dff, h)) with biases; LayerNorms with bias
    (``layernorm1``, ``layernorm2``, the final ``layernorm``); the lm_head tied by default
    *with* a bias of V."""
    L, h, a, P = (r.int(k) for k in ("n_layer", "n_embd", "n_head", "n_positions"))
    check_int(r.name_of("n_positions"), P, 1, MAX_CONTEXT)
    _mha_heads(r, "n_head", a, h, "n_embd")
    return ModelSpec(name=name, model_type="ctrl", num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=a,
                     num_key_value_heads=a, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     lm_head_bias=True, norm_type="layernorm", norm_bias=True,
                     attention_bias=True, attention_out_bias=True, intermediate_size=r.int("dff"),
                     gated_ffn=False, ffn_bias=True, max_position_embeddings=P,
                     notes=("sinusoidal positions (no parameters)",))


def _axk1_moe_layers(r: _Reader, L: int) -> tuple[int, ...]:
    """A.X-K1 (``AXK1Config.__post_init__``): ``mlp_layer_types``; absent, layer i is sparse iff
    ``i >= first_k_dense_replace`` (default 1) and ``i % moe_layer_freq == 0`` (default 1), both
    read from the legacy kwargs."""
    if r.cfg.get("mlp_layer_types") is not None:
        return _sparse_mlp_layer_types(lambda r: 0)(r, L)
    first, freq = r.opt_int("first_k_dense_replace", 0), r.opt_int("moe_layer_freq", 1)
    return tuple(i for i in range(L) if i >= first and i % freq == 0)


def _axk1(r: _Reader, name: str) -> ModelSpec:
    """A.X-K1 (``modular_axk1.py``): DeepSeek-V3's MLA (always the Q-LoRA path: ``q_lora_rank``
    must be set) and MoE (sigmoid router, correction-bias buffer, ``n_shared_experts`` fused
    shared experts) in GLM-4.7-Flash's decoder layer, plus one RMSNorm of width h on every MoE
    block's output (``AXK1MoE.post_mlp_layernorm``: ``moe_output_norm``); dense layers are
    DeepSeek's MLP. No MTP field in its config class."""
    if r.opt("q_lora_rank") is None:
        raise EstimatorError(r.name_of("q_lora_rank"), None, "required for model_type 'axk1' "
                             "(AXK1Attention always uses the q_a_proj / q_b_proj path)")
    spec = _deepseek(r, name, v3=True, layers=_axk1_moe_layers, mtp=False)
    return spec.replace(moe_output_norm=bool(spec.moe_layers))


def _axk2(r: _Reader, name: str) -> ModelSpec:
    """A.X-K2 (``modular_axk2.py``): DeepSeek-V3.2 (MLA with the DSA lightning indexer on every
    layer, DeepSeek-V3's MoE with the correction-bias buffer; no MTP field) with MoE layers from
    ``mlp_layer_types`` or A.X-K1's legacy rule (:func:`_axk1_moe_layers`), and:
    ``q_gate_proj`` instead of ``q_b_proj``, whose ``v_head_dim`` half gates the attention
    output (:class:`~estimator.spec.MLA` ``q_gate``); a gated RMSNorm
    (``AXK2GatedRMSNorm``, rank ``gated_norm_rank``) as every layer's input norm and every MoE
    layer's post-attention norm (``gated_norm_rank``). ``n_group``/``topk_group`` (null:
    ungrouped routing) change which experts a token reaches, not what exists or how many."""
    if r.opt("q_lora_rank") is None:
        raise EstimatorError(r.name_of("q_lora_rank"), None, "required for model_type 'axk2' "
                             "(its q_gate_proj and indexer read the q_a_proj latent)")
    spec = _deepseek(r, name, v3=True, layers=_axk1_moe_layers, mtp=False)
    mla = dataclasses.replace(spec.mla, index_n_heads=r.opt_int("index_n_heads", 1),
                              index_head_dim=r.opt_int("index_head_dim", 1),
                              index_topk=r.opt_int("index_topk", 1), q_gate=True)
    return spec.replace(mla=mla, gated_norm_rank=r.opt_int("gated_norm_rank", 1),
                        notes=spec.notes + (
                            "DeepSeek Sparse Attention: MLA attends to the index_topk tokens its "
                            "lightning indexer selects",))


def _hy_v4(r: _Reader, name: str) -> ModelSpec:
    """HY-V4 (``modular_hy_v4.py``): MLA (Q-LoRA, ``q_lora_rank`` required) with DSA's lightning
    indexer (``HYV4Indexer``: DeepSeek-V3.2's weights) on the ``indexer_types`` "full" layers
    (default layer 0 and every 4th from layer 1; "shared" layers reuse the previous top-k and
    build none: ``MLA.indexer_layers``), a sigmoid output gate ``gate_proj`` (h → a·v), one sink
    logit per head, and ``hc_mult`` hyper-connection streams (``HYV4HyperConnection`` before
    attention and FFN, ``HYV4HyperHead`` before the final norm). Dense MLP / MoE per
    ``mlp_layer_types`` (default the first layer dense); the MoE is GLM-4.7-Flash's (sigmoid
    router with the correction-bias buffer, ``n_shared_experts`` fused shared experts).
    ``num_key_value_heads`` is set to the heads (``HYV4Config.__post_init__``); the MTP layers
    are skipped by transformers (``_keys_to_ignore_on_load_unexpected``): not counted."""
    if r.opt("q_lora_rank") is None:
        raise EstimatorError(r.name_of("q_lora_rank"), None, "required for model_type 'hy_v4' "
                             "(its attention and indexer read the q_a_proj latent)")
    spec = _deepseek(r, name, v3=True, layers=_sparse_mlp_layer_types(lambda r: 1), mtp=False)
    L = spec.num_hidden_layers
    kinds = r.opt("indexer_types")
    if kinds is None:
        kinds = ["full" if i == 0 or (i - 1) % 4 == 0 else "shared" for i in range(L)]
    if not isinstance(kinds, (list, tuple)) or len(kinds) != L:
        raise EstimatorError(r.where + "indexer_types", kinds,
                             f"must list {L} indexer kinds (one per layer)")
    for i, k in enumerate(kinds):
        if k not in ("full", "shared"):
            raise EstimatorError(r.where + f"indexer_types[{i}]", k, "must be 'full' or 'shared'")
    if kinds and kinds[0] == "shared":  # HYV4Attention.forward raises on it
        raise EstimatorError(r.where + "indexer_types[0]", "shared", "the first layer must run "
                             "its own indexer ('full'): a shared layer reuses an earlier top-k")
    full = tuple(i for i, k in enumerate(kinds) if k == "full")
    mla = dataclasses.replace(spec.mla, index_n_heads=r.opt_int("index_n_heads", 1),
                              index_head_dim=r.opt_int("index_head_dim", 1),
                              index_topk=r.opt_int("index_topk", 1), gate_proj=True,
                              indexer_layers=full if len(full) < L else ())
    return spec.replace(mla=mla, attention_sinks=True, hc_mult=r.opt_int("hc_mult", 1),
                        notes=spec.notes + (
                            "DeepSeek Sparse Attention: MLA attends to the index_topk tokens its "
                            "lightning indexer selects" + (
                                f" ({L - len(full)} of {L} layers reuse an earlier layer's "
                                "top-k)" if len(full) < L else ""),))


_GPT_NAMES = {"max_position_embeddings": "n_positions", "hidden_size": "n_embd",
              "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}


# ----------------------------------------------------------------------------------------------
# pure state-space models: every layer one Mamba mixer, no attention, no FFN (issue #13)
# ----------------------------------------------------------------------------------------------

def _ssm_trunk(r: _Reader, name: str) -> dict[str, Any]:
    """The trunk of a model whose every block is ``norm → mixer → residual``
    (``MambaBlock``, ``Mamba2Block``, ``FalconMambaBlock``): embeddings, one RMSNorm per
    layer, ``norm_f``, the lm_head (tied per ``tie_word_embeddings``). No layer has attention
    or an FFN, so the spec lists every layer in ``mixer_layers`` and ``ffnless_layers``;
    ``num_attention_heads`` is a placeholder that no layer uses (``num_attention_layers`` is
    0: no KV cache, only the per-sequence state). These configs have no
    ``max_position_embeddings``: nothing in the model bounds the context."""
    L = r.int("num_hidden_layers")
    return dict(name=name, model_type=r.model_type, num_hidden_layers=L,
                hidden_size=r.int("hidden_size"), vocab_size=r.int("vocab_size"),
                num_attention_heads=1, num_key_value_heads=1,
                tie_word_embeddings=r.flag("tie_word_embeddings"), norms_per_layer=1,
                intermediate_size=0, mixer_layers=tuple(range(L)),
                ffnless_layers=tuple(range(L)),
                notes=("state-space model: no attention layer, so no KV cache; each sequence "
                       "keeps a constant conv + SSM state whatever its length",))


def _mamba_pure(r: _Reader, name: str) -> ModelSpec:
    """Mamba-1 (``modeling_mamba.MambaMixer``) and Falcon-Mamba
    (``modeling_falcon_mamba.FalconMambaMixer``: the same mixer plus weightless RMSNorms on dt,
    B and C — buffers, not parameters): ``in_proj`` h → 2I (bias with ``use_bias``), a
    depthwise conv of ``conv_kernel`` (bias with ``use_conv_bias``), ``x_proj`` I → R + 2N,
    ``dt_proj`` R → I with bias, ``A_log`` I·N, ``D`` I, ``out_proj`` I → h (bias with
    ``use_bias``); R = ``time_step_rank`` (``"auto"``: ``ceil(h/16)``). I is the config's
    ``intermediate_size`` when it has one, else ``expand·h``: ``MambaConfig.__post_init__``
    sets ``expand·h`` and then its parent stores the config's own keys over it, so
    Falcon-Mamba-7B's ``intermediate_size: 8192`` wins over its ``expand: 16`` (8192, not
    65,536: transformers builds 7,272,665,088 parameters, the card's 7.27B)."""
    c = _ssm_trunk(r, name)
    h = c["hidden_size"]
    rank = r.opt("time_step_rank")
    rank = -(-h // 16) if rank == "auto" else check_int(r.name_of("time_step_rank"), rank, 1)
    inner = r.cfg.get("intermediate_size")  # not a declared field: no DEFAULTS entry
    inner = (r.opt_int("expand", 1) * h if inner is None
             else check_int(r.where + "intermediate_size", inner, 1))
    mixer = Mixer(kind="mamba", num_heads=1, head_dim=inner,
                  state_size=r.opt_int("state_size", 1), conv_kernel=r.opt_int("conv_kernel", 1),
                  dt_rank=rank, conv_bias=r.flag("use_conv_bias"), proj_bias=r.flag("use_bias"),
                  weightless_bc_norms=r.model_type == "falcon_mamba")
    return ModelSpec(**c, mixer=mixer)


def _mamba2_pure(r: _Reader, name: str) -> ModelSpec:
    """Mamba-2 (``modeling_mamba2.Mamba2Mixer``): ``num_heads`` SSM heads of ``head_dim``
    (their product must be ``expand·h``: ``Mamba2Config.validate_architecture``), ``n_groups``
    groups of B/C of ``state_size``; ``in_proj`` h → 2I + 2GN + H and ``out_proj`` I → h,
    both biased with ``use_bias``; conv bias with ``use_conv_bias``; the gated RMSNorm(I)."""
    c = _ssm_trunk(r, name)
    h = c["hidden_size"]
    mixer = _mamba2(r, h, "num_heads", "head_dim", "n_groups", "state_size", "conv_kernel",
                    "use_conv_bias", "use_bias", inner=r.opt_int("expand", 1) * h)
    return ModelSpec(**c, mixer=mixer)


def _recurrent_gemma(r: _Reader, name: str) -> ModelSpec:
    """RecurrentGemma / Griffin (``modeling_recurrent_gemma.py``): ``block_types`` repeated
    over the layers (``RecurrentGemmaConfig.layers_block_type``: ``(block_types * 100)[:L]``)
    picks per layer a recurrent block (``RecurrentGemmaRecurrentBlock``, the ``rglru`` mixer
    of width ``lru_width``, default h) or local attention (``RecurrentGemmaAttention``: every
    attention layer slides over ``attention_window_size``; q/k/v biased with
    ``attention_bias``, ``o_proj`` always biased; ``head_dim`` is always ``h // a``, set by
    ``__post_init__``). Every layer has ``RecurrentGemmaMlp``: gated (GeGLU), all three
    projections biased, width ``intermediate_size // 2``. RMSNorms ``temporal_pre_norm``,
    ``channel_pre_norm`` and ``final_norm``; the lm_head is tied to the embedding. The
    embedding scale ``sqrt(h)`` is a buffer and the logits soft-cap a ``tanh``: neither has
    parameters or matmul FLOPs."""
    c = _common(r, name)
    L, h, a = c["num_hidden_layers"], c["hidden_size"], c["num_attention_heads"]
    c["head_dim"] = h // a
    if not c["head_dim"]:
        raise EstimatorError(r.where + "num_attention_heads", a,
                             f"must be at most hidden_size={h} (head_dim = hidden_size // heads)")
    bt = r.opt("block_types")
    if not isinstance(bt, (list, tuple)) or not bt:
        raise EstimatorError(r.where + "block_types", bt,
                             "must be a non-empty list of 'recurrent'/'attention'")
    for i, t in enumerate(bt):
        if t not in ("recurrent", "attention"):
            raise EstimatorError(f"{r.where}block_types[{i}]", t,
                                 "unknown block type; one of recurrent, attention")
    if len(bt) * 100 < L:  # transformers' (block_types * 100)[:L] would leave layers unbuilt
        raise EstimatorError(r.where + "block_types", f"{len(bt)} entries",
                             f"repeated 100 times must cover num_hidden_layers={L}")
    kinds = [bt[i % len(bt)] for i in range(L)]
    lru = r.cfg.get("lru_width")
    lru = h if lru is None else check_int(r.where + "lru_width", lru, 1)
    if lru % a:  # RecurrentGemmaRglru reshapes to (heads, lru_width // heads)
        raise EstimatorError(r.where + "lru_width", lru,
                             f"must be a multiple of num_attention_heads={a} (the RG-LRU "
                             "gates are num_attention_heads diagonal blocks)")
    # RecurrentGemmaMlp is intermediate_size // 2 wide
    f = r.opt_int("intermediate_size", 2) // 2
    mixer = Mixer(kind="rglru", num_heads=a, head_dim=lru // a,
                  conv_kernel=r.opt_int("conv1d_width", 1), conv_bias=True, proj_bias=True)
    rec = _indices(kinds, "recurrent")
    attn = _indices(kinds, "attention")
    w = _window(r, "attention_window_size")
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=f, gated_ffn=True, ffn_bias=True,
                     attention_bias=ab, attention_out_bias=True,
                     sliding_window=w if attn else None,
                     sliding_window_layers=attn if w else (),
                     mixer=mixer if rec else None, mixer_layers=rec,
                     notes=("Griffin: RG-LRU recurrent blocks + local sliding-window attention "
                            "(attention_window_size); MLP width intermediate_size // 2",
                            "embedding scaled by sqrt(hidden_size) and logits soft-capped "
                            "(tanh): no parameters, no matmul FLOPs"))


def _rwkv(r: _Reader, name: str) -> ModelSpec:
    """RWKV-4 (``modeling_rwkv.py``): every block is ``ln1 → time mix → residual, ln2 →
    channel mix → residual`` (``RwkvBlock``), one :data:`~estimator.spec.MIXER_KINDS` ``rwkv4``
    mixer carrying both mixes (the channel mix is RWKV's FFN, but not the spec's: a sigmoid
    receptance gate h → h and a token shift), so no layer has attention or a spec FFN. Norms are
    LayerNorms with bias: ``ln1``, ``ln2`` per layer, ``pre_ln`` on the embeddings (block 0) and
    ``ln_out``; the ``head`` is untied by default. ``attention_hidden_size`` (A) defaults to h,
    ``intermediate_size`` to 4h (``RwkvConfig.__post_init__``); ``context_length`` (transformers'
    ``max_position_embeddings``) is only the CUDA kernel's chunk: in RNN mode nothing bounds the
    context."""
    L = r.int("num_hidden_layers")
    h = r.int("hidden_size")

    def derived(key: str, default: int) -> int:  # null or absent: derived, as transformers does
        v = r.cfg.get(key)
        return default if v is None else check_int(r.where + key, v, 1)

    mixer = Mixer(kind="rwkv4", num_heads=1, head_dim=derived("attention_hidden_size", h),
                  conv_kernel=2, ffn_dim=derived("intermediate_size", 4 * h))
    return ModelSpec(name=name, model_type=r.model_type, num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=1,
                     num_key_value_heads=1, tie_word_embeddings=r.flag("tie_word_embeddings"),
                     norm_type="layernorm", norm_bias=True, embedding_norm=True,
                     intermediate_size=0, mixer=mixer, mixer_layers=tuple(range(L)),
                     ffnless_layers=tuple(range(L)),
                     notes=("RWKV-4: every layer one rwkv4 mixer (time mix + channel mix); no "
                            "attention, no KV cache: each sequence keeps 2 token shifts and the "
                            "fp32 WKV state per layer",))


def _xlstm(r: _Reader, name: str) -> ModelSpec:
    """xLSTM (``modeling_xlstm.py``, transformers' own path without the ``xlstm`` package):
    ``num_blocks`` blocks of ``norm_mlstm → xLSTMLayer → residual, norm_ffn → xLSTMFeedForward
    → residual``. The mLSTM layer (``mlstm`` mixer): ``q``/``k`` h → ``int(h·qk_dim_factor)``,
    ``v``/``ogate_preact`` h → ``int(h·v_dim_factor)``, per-head gates and ``out_proj``. The
    FFN is gated (SiLU), ``round_up(h·ffn_proj_factor, ffn_round_up_to_multiple_of)`` wide. The
    RMSNorms have weights only; ``out_norm`` is built whatever ``add_out_norm``; the lm_head is
    never tied (``xLSTMForCausalLM`` has no ``_tied_weights_keys``, whatever
    ``tie_word_embeddings`` says). ``use_bias`` is refused: it puts biases on the block norms
    but not on ``out_norm``, which the spec's norms cannot say."""
    h = r.int("hidden_size")
    nb, L = r.cfg.get("num_blocks"), r.cfg.get("num_hidden_layers")
    if nb is None and L is None:
        raise EstimatorError(r.where + "num_hidden_layers", None,
                             "required for model_type 'xlstm' but missing (or num_blocks)")
    L = check_int(r.where + ("num_hidden_layers" if L is not None else "num_blocks"),
                  L if L is not None else nb, 1)
    if nb is not None and check_int(r.where + "num_blocks", nb, 1) != L:
        raise EstimatorError(r.where + "num_blocks", nb, f"must equal num_hidden_layers={L} "
                             "(transformers builds num_blocks blocks but sizes its cache by "
                             "num_hidden_layers)")
    emb = r.cfg.get("embedding_dim")
    if emb is not None and emb != h:
        raise EstimatorError(r.where + "embedding_dim", emb,
                             f"must equal hidden_size={h} (the blocks read the embedding)")
    if r.flag("use_bias"):
        raise EstimatorError(r.where + "use_bias", True, "xLSTM with biases is not supported "
                             "yet: its block RMSNorms get a bias and its out_norm none")
    H = r.opt_int("num_heads", 1)

    def factor(key: str) -> float:
        v = r.opt(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1e6:
            raise EstimatorError(r.name_of(key), v, "must be a positive number below 1e6")
        return v

    qk, v = int(h * factor("qk_dim_factor")), int(h * factor("v_dim_factor"))
    for key, width in (("qk_dim_factor", qk), ("v_dim_factor", v)):
        if not width or width % H:  # xLSTMLayer reshapes to (heads, width // heads)
            raise EstimatorError(r.name_of(key), r.opt(key), f"gives a width of {width}, which "
                                 f"must be a positive multiple of num_heads={H}")
    mult = r.opt_int("ffn_round_up_to_multiple_of", 1)
    # xLSTMFeedForward.up_proj_dim: round_up_to_next_multiple_of(h * ffn_proj_factor, mult)
    f = int(((h * factor("ffn_proj_factor") + mult - 1) // mult) * mult)
    mixer = Mixer(kind="mlstm", num_heads=H, head_dim=v // H, num_k_heads=H, head_k_dim=qk // H)
    return ModelSpec(name=name, model_type=r.model_type, num_hidden_layers=L, hidden_size=h,
                     vocab_size=r.int("vocab_size"), num_attention_heads=1,
                     # xLSTMForCausalLM declares no _tied_weights_keys: its lm_head is its
                     # own parameter even with tie_word_embeddings true
                     num_key_value_heads=1, tie_word_embeddings=False,
                     intermediate_size=check_int("intermediate_size", f, 1), gated_ffn=True,
                     mixer=mixer, mixer_layers=tuple(range(L)),
                     notes=("xLSTM: every layer an mLSTM mixer + gated FFN; no attention, no KV "
                            "cache: each sequence keeps the mLSTM memory (C, n, m) per layer",
                            "logits soft-capped (tanh): no parameters, no matmul FLOPs"))


def _olmo_hybrid(r: _Reader, name: str) -> ModelSpec:
    """OLMo-Hybrid (``modeling_olmo_hybrid.py``): ``layer_types`` picks Gated DeltaNet
    (``OlmoHybridGatedDeltaNet``: separate ``q/k/v/a/b/g/o_proj`` — the same matrices as
    Qwen3-Next's fused ``in_proj_qkvz``/``in_proj_ba``, one depthwise conv over q, k, v, the
    gated RMSNorm over one value head; pre-norm block) or OLMo-2 attention (full-width q/k
    RMSNorms, biases with ``attention_bias``; post-norm block); a gated MLP in every layer.
    Defaults (``OlmoHybridConfig.__post_init__``): every 4th layer (i % 4 == 3) attention, the
    last one when that leaves none; ``linear_num_key_heads`` / ``linear_num_value_heads`` =
    ``num_attention_heads``, ``linear_key_head_dim`` = ``int(0.75·h / Hk)``,
    ``linear_value_head_dim`` = ``2·Dk``."""
    c = _common(r, name)
    L, h, a = c["num_hidden_layers"], c["hidden_size"], c["num_attention_heads"]
    if r.cfg.get("layer_types") is not None:
        lt = _hybrid_schedule(r, "layer_types", L, ("linear_attention", "full_attention"))
    else:
        lt = ["full_attention" if i % 4 == 3 else "linear_attention" for i in range(L)]
        if "full_attention" not in lt:
            lt[-1] = "full_attention"

    def derived(key: str, default: int) -> int:  # null or absent: derived, as transformers does
        v = r.cfg.get(key)
        return default if v is None else check_int(r.where + key, v, 1)

    hk = derived("linear_num_key_heads", a)
    dk = derived("linear_key_head_dim", check_int(r.where + "linear_key_head_dim",
                                                   int(0.75 * h / hk), 1))
    mixer = Mixer(kind="gated_deltanet", num_heads=derived("linear_num_value_heads", a),
                  head_dim=derived("linear_value_head_dim", 2 * dk), num_k_heads=hk,
                  head_k_dim=dk, conv_kernel=r.opt_int("linear_conv_kernel_dim", 1))
    layers = _indices(lt, "linear_attention")
    ab = r.flag("attention_bias")
    return ModelSpec(**c, intermediate_size=r.int("intermediate_size"), attention_bias=ab,
                     attention_out_bias=ab, qk_norm="full", mixer=mixer if layers else None,
                     mixer_layers=layers)


def _lara_mini(r: _Reader, name: str) -> ModelSpec:
    """Lara-Mini (``modeling_lara_mini.py``): ``layer_types`` (default the released period-5
    pattern linear, sliding, linear, full, sliding: ``LaraMiniConfig.__post_init__``) picks
    Qwen3.5's Gated DeltaNet or Qwen3 attention (per-head q/k RMSNorms; ``sliding_window`` on
    the ``sliding_attention`` layers); every layer's FFN is MoE (``num_experts`` of
    ``moe_intermediate_size``, router without bias) plus a shared expert of
    ``shared_expert_intermediate_size`` added without a gate."""
    c = _common(r, name)
    L = c["num_hidden_layers"]
    if r.cfg.get("layer_types") is not None:
        lt = _hybrid_schedule(r, "layer_types", L,
                              ("linear_attention", "sliding_attention", "full_attention"))
    else:
        period = ("linear_attention", "sliding_attention", "linear_attention", "full_attention",
                  "sliding_attention")
        lt = [period[i % 5] for i in range(L)]
    layers = _indices(lt, "linear_attention")
    slide = _indices(lt, "sliding_attention")
    w = _window(r)
    ab = r.flag("attention_bias")
    return ModelSpec(**c, **_moe_fields(r, tuple(range(L)), "moe_intermediate_size"),
                     num_shared_experts=1,
                     shared_expert_intermediate_size=r.int("shared_expert_intermediate_size"),
                     attention_bias=ab, attention_out_bias=ab, qk_norm="head",
                     sliding_window=w if w and slide else None,
                     sliding_window_layers=slide if w else (),
                     mixer=_gated_deltanet(r) if layers else None, mixer_layers=layers)


def _gemma4_layer_types(r: _Reader, L: int) -> list[str]:
    """``Gemma4TextConfig.__post_init__``: by default every sixth layer is full attention, the
    rest slide; the last layer is forced to full attention."""
    lt = _layer_types(r, L)
    if lt is None:
        lt = ["sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(L)]
    for i, t in enumerate(lt):
        if t not in ("sliding_attention", "full_attention"):
            raise EstimatorError(f"{r.where}layer_types[{i}]", t,
                                 "must be 'sliding_attention' or 'full_attention'")
    return lt[:-1] + ["full_attention"]


def _gemma4_text(r: _Reader, name: str, unified: bool = False) -> ModelSpec:
    """Gemma-4's text model (``modeling_gemma4.Gemma4TextModel``, transformers 5.24).

    Full-attention layers have their own head dim (``global_head_dim``) and, with
    ``attention_k_eq_v``, their own K/V heads (``num_global_key_value_heads``) and no
    ``v_proj``; the last ``num_kv_shared_layers`` layers reuse the K/V of the last earlier layer
    of their kind (``Gemma4TextConfig.kv_sharing_modes``) and, with ``use_double_wide_mlp``,
    have MLPs twice ``intermediate_size`` wide; per-layer embeddings when
    ``hidden_size_per_layer_input`` is set; ``enable_moe_block`` adds an MoE block beside the
    MLP of every layer. ``unified``: ``modeling_gemma4_unified``'s text model, the same block
    without per-layer embeddings and MoE."""
    if r.cfg.get("per_layer_config") is not None:
        raise EstimatorError(r.where + "per_layer_config", "(set)", "explicit per-layer "
                             "overrides are not read; give global_head_dim and "
                             "num_global_key_value_heads instead")
    if r.cfg.get("use_bidirectional_attention") == "all":  # default None: causal
        raise EstimatorError(r.where + "use_bidirectional_attention", "all",
                             "bidirectional (non-causal) Gemma-4 is not a decoder; only "
                             "null or 'vision' load")
    c = _common(r, name)
    L, a = c["num_hidden_layers"], c["num_attention_heads"]
    lt = _gemma4_layer_types(r, L)
    sliding = tuple(i for i, t in enumerate(lt) if t == "sliding_attention")
    n_shared = r.opt_int("num_kv_shared_layers", 0)
    if n_shared > L:
        raise EstimatorError(r.where + "num_kv_shared_layers", n_shared,
                             f"must not exceed num_hidden_layers={L}")
    first = L - n_shared
    if 0 < n_shared < L and set(lt[:first]) != set(lt):
        raise EstimatorError(r.where + "num_kv_shared_layers", n_shared, "some layer kind "
                             "among the shared layers has no earlier layer to share K/V with")
    k_eq_v = r.flag("attention_k_eq_v")
    # num_global_key_value_heads: popped from kwargs by Gemma4TextConfig.__post_init__
    # (default None: the layer keeps num_key_value_heads), read only with attention_k_eq_v
    g_full = r.cfg.get("num_global_key_value_heads") if k_eq_v else None
    if g_full is not None:
        g_full = check_int(r.where + "num_global_key_value_heads", g_full, 1)
    kw: dict[str, Any] = dict(
        full_attention_head_dim=r.opt_int("global_head_dim", 1),
        full_attention_kv_heads=g_full or 0, full_attention_k_eq_v=k_eq_v,
        kv_shared_layers=tuple(range(first, L)))
    if kw["full_attention_kv_heads"] and a % kw["full_attention_kv_heads"]:
        raise EstimatorError(r.where + "num_global_key_value_heads", g_full,
                             f"must divide num_attention_heads={a}")
    if r.flag("use_double_wide_mlp"):
        kw["wide_ffn_layers"] = kw["kv_shared_layers"]
    p = None if unified else r.opt("hidden_size_per_layer_input")
    if p:  # 0 or null: no per-layer embeddings
        kw.update(per_layer_input_size=check_int(r.where + "hidden_size_per_layer_input", p, 1),
                  per_layer_input_vocab=r.opt_int("vocab_size_per_layer_input", 1))
    if not unified and r.flag("enable_moe_block"):
        E = r.int("num_experts")
        k = r.int("top_k_experts")
        if k > E:
            raise EstimatorError(r.where + "top_k_experts", k, f"must not exceed num_experts={E}")
        kw.update(num_experts=E, num_experts_per_tok=k, moe_layers=tuple(range(L)),
                  moe_intermediate_size=r.int("moe_intermediate_size"), moe_beside_dense=True)
    # the full-attention overrides follow layer_types, so a window is required (int, 512)
    w = r.opt_int("sliding_window", 1)
    return ModelSpec(**c, **kw, intermediate_size=r.int("intermediate_size"),
                     attention_bias=r.flag("attention_bias"),
                     attention_out_bias=r.flag("attention_bias"), norms_per_layer=4,
                     qk_norm="head", sliding_window=w if sliding else None,
                     sliding_window_layers=sliding,
                     notes=("per-layer attention shapes (Gemma-4): parameters, weights, "
                            "FLOPs, the KV cache (and the serving decode reads built on it) and "
                            "training parameter states are counted layer by layer, and so are "
                            "the engines' KV pages (vLLM) and cells (SGLang); the activations of "
                            "training and of the engine's profile run, and the communication "
                            "volumes use the sliding layers' attention shape and the uniform MLP "
                            "for every layer (approximate)",))


def _gemma3n_text(r: _Reader, name: str) -> ModelSpec:
    """Gemma-3n's text model (``modeling_gemma3n.Gemma3nTextModel``, transformers 5.24).

    Gemma-4's attention block without its full-layer overrides (``q_norm``/``k_norm`` and a
    weightless ``v_norm``; the last ``num_kv_shared_layers`` layers reuse the K/V of the last
    earlier layer of their kind, ``Gemma3nTextConfig.kv_sharing_modes``, and cache nothing),
    by default every fifth layer full attention and the rest sliding; per-layer embeddings
    (``hidden_size_per_layer_input``, ``vocab_size_per_layer_input``) as Gemma-4's; AltUp
    over ``altup_num_inputs`` residual streams and a LAuReL block of ``laurel_rank`` in every
    layer (:func:`~estimator.params.residual_stream_params`). ``intermediate_size`` is one
    width or a list of one per layer (equal widths only: the spec has one MLP width).
    ``activation_sparsity_pattern``'s Gaussian top-k (mean, std, subtract, ReLU on the gate)
    has no matmul, so no FLOPs in this project's count (nor in ``FlopCounterMode``);
    ``final_logit_softcapping`` neither."""
    c = _common(r, name)
    L = c["num_hidden_layers"]
    lt = _layer_types(r, L)
    if lt is None:  # Gemma3nTextConfig.__post_init__
        lt = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(L)]
    for i, t in enumerate(lt):
        if t not in ("sliding_attention", "full_attention"):
            raise EstimatorError(f"{r.where}layer_types[{i}]", t,
                                 "must be 'sliding_attention' or 'full_attention'")
    sliding = tuple(i for i, t in enumerate(lt) if t == "sliding_attention")
    n_shared = r.opt_int("num_kv_shared_layers", 0)
    first = L - n_shared
    if n_shared and (n_shared > L or set(lt[:first]) != set(lt)):
        # Gemma3nTextConfig.kv_sharing_modes raises the same
        raise EstimatorError(r.where + "num_kv_shared_layers", n_shared, "some layer kind "
                             "among the last num_kv_shared_layers layers has no earlier layer "
                             f"to share K/V with (num_hidden_layers={L})")
    f = r.req("intermediate_size")
    if isinstance(f, (list, tuple)):
        if len(f) != L:
            raise EstimatorError(r.where + "intermediate_size", f,
                                 f"must be one width or a list of {L} widths")
        widths = {check_int(f"{r.where}intermediate_size[{i}]", x, 1) for i, x in enumerate(f)}
        if len(widths) > 1:
            raise EstimatorError(r.where + "intermediate_size", f, "layers of different MLP "
                                 "widths (MatFormer slices) are not supported yet; the spec "
                                 "has one width")
        f = widths.pop()
    f = check_int(r.where + "intermediate_size", f, 1)
    asp = r.cfg.get("activation_sparsity_pattern")  # no matmul: read only to validate
    if isinstance(asp, (list, tuple)) and len(asp) != L:  # Gemma3nTextConfig raises the same
        raise EstimatorError(r.where + "activation_sparsity_pattern", asp,
                             f"must give one sparsity per layer ({L})")
    n = r.opt_int("altup_num_inputs", 1)
    active = r.opt_int("altup_active_idx", 0)
    if active >= n:
        raise EstimatorError(r.where + "altup_active_idx", active,
                             f"must be below altup_num_inputs={n}")
    w = r.opt_int("sliding_window", 1)
    return ModelSpec(**c, intermediate_size=f, kv_shared_layers=tuple(range(first, L)),
                     per_layer_input_size=r.opt_int("hidden_size_per_layer_input", 1),
                     per_layer_input_vocab=r.opt_int("vocab_size_per_layer_input", 1),
                     altup_num_inputs=n, laurel_rank=r.opt_int("laurel_rank", 1),
                     attention_bias=r.flag("attention_bias"),
                     attention_out_bias=r.flag("attention_bias"), norms_per_layer=4,
                     qk_norm="head", sliding_window=w if sliding else None,
                     sliding_window_layers=sliding,
                     notes=("per-layer shapes (Gemma-3n): parameters, weights (vLLM's tensor-"
                            "parallel layout), FLOPs and the KV cache (K/V-sharing layers cache "
                            "nothing) are counted layer by layer with AltUp's streams and "
                            "LAuReL; prefill activations and vLLM's profile run use a plain "
                            "block (approximate: AltUp's streams not counted); training is not "
                            "modelled",))


def _mimo_v2_flash(r: _Reader, name: str) -> ModelSpec:
    """MiMo-V2-Flash (``modeling_mimo_v2_flash``, transformers 5.24): sliding layers have
    twice ``num_key_value_heads`` and one sink logit per query head, full layers (by default the
    first and every sixth) neither; values and ``o_proj`` use ``v_head_dim``; DeepSeek-V3
    routing (sigmoid scores, ``e_score_correction_bias`` buffer) without shared experts, MoE
    where ``mlp_layer_types`` says ``sparse`` (by default all but the first layer)."""
    c = _common(r, name)
    L, a, g = c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"]
    lt = _layer_types(r, L)
    if lt is None:
        lt = ["full_attention" if i == 0 or not (i + 1) % 6 else "sliding_attention"
              for i in range(L)]
    sliding = tuple(i for i, t in enumerate(lt) if t == "sliding_attention")
    if sliding and a % (2 * g):
        raise EstimatorError(r.where + "num_key_value_heads", g, "sliding layers have twice "
                             f"as many K/V heads, which must divide num_attention_heads={a}")
    # MiMoV2FlashConfig.__post_init__: the reference's sliding_window_size counts the previous
    # tokens; transformers' window adds the query
    wss = r.cfg.get("sliding_window_size")
    w = (check_int(r.where + "sliding_window_size", wss, 0) + 1 if wss is not None
         else r.opt_int("sliding_window", 1))
    layers = _sparse_mlp_layer_types(lambda r: 1)(r, L)
    ab = r.flag("attention_bias")
    kw: dict[str, Any] = dict(
        num_key_value_heads=2 * g if sliding else g, full_attention_kv_heads=g,
        attention_v_head_dim=r.opt_int("v_head_dim", 1), sliding_layer_sinks=bool(sliding),
        sliding_window=w if sliding else None, sliding_window_layers=sliding)
    if layers:
        kw.update(_moe_fields(r, layers, "moe_intermediate_size"),
                  router_score_correction_bias=True)
    return ModelSpec(**{**c, **kw}, attention_bias=ab,
                     intermediate_size=r.int("intermediate_size") if len(layers) < L else 0,
                     notes=("per-layer attention shapes (MiMo-V2-Flash): parameters, weights, "
                            "FLOPs, the KV cache (and the serving decode reads built on it) and "
                            "training parameter states are counted layer by layer, and so are "
                            "the engines' KV pages (vLLM) and cells (SGLang); the activations of "
                            "training and of the engine's profile run, and the communication "
                            "volumes use the sliding layers' attention shape for every layer "
                            "(approximate)",))


def _laguna(r: _Reader, name: str) -> ModelSpec:
    """Laguna (``modeling_laguna``, transformers 5.24): query heads by layer
    (``num_attention_heads_per_layer``; K/V heads fixed), per-head q/k RMSNorm, a softplus
    output gate ``g_proj`` (``gating``: true or "per-head" → one gate per head, anything else →
    one per channel), biases on q/k/v/o with ``attention_bias``; MoE where ``mlp_layer_types``
    says ``sparse`` (by default all but the first layer) with one shared expert of
    ``shared_expert_intermediate_size`` and a router whose ``e_score_correction_bias`` is a
    parameter (``requires_grad=False``), sliding layers by ``layer_types`` (default none)."""
    c = _common(r, name)
    L, g = c["num_hidden_layers"], c["num_key_value_heads"]
    heads = r.cfg.get("num_attention_heads_per_layer")  # default: num_attention_heads
    if heads is not None:
        if not isinstance(heads, (list, tuple)) or len(heads) != L:
            raise EstimatorError(r.where + "num_attention_heads_per_layer", heads,
                                 f"must be a list of {L} head counts")
        heads = tuple(check_int(f"{r.where}num_attention_heads_per_layer[{i}]", a, 1)
                      for i, a in enumerate(heads))
        for i, a in enumerate(heads):
            if a % g:
                raise EstimatorError(f"{r.where}num_attention_heads_per_layer[{i}]", a,
                                     f"must be a multiple of num_key_value_heads={g}")
    gating = r.opt("gating")
    lt = _layer_types(r, L) or ["full_attention"] * L
    sliding = tuple(i for i, t in enumerate(lt) if t == "sliding_attention")
    w = r.opt_int("sliding_window", 1) if sliding else None
    layers = _sparse_mlp_layer_types(lambda r: 1)(r, L)
    ab = r.flag("attention_bias")
    kw: dict[str, Any] = dict(
        layer_query_heads=heads or (),
        attention_gate_proj="head" if gating is True or gating == "per-head" else "channel",
        sliding_window=w, sliding_window_layers=sliding)
    if layers:
        kw.update(_moe_fields(r, layers, "moe_intermediate_size"), router_bias=True,
                  num_shared_experts=1,
                  shared_expert_intermediate_size=r.int("shared_expert_intermediate_size"))
    return ModelSpec(**c, **kw, attention_bias=ab, attention_out_bias=ab, qk_norm="head",
                     intermediate_size=r.int("intermediate_size") if len(layers) < L else 0,
                     notes=("router e_score_correction_bias is a parameter in transformers "
                            "(router_bias)",
                            "per-layer query heads and output gate (Laguna): parameters, "
                            "weights, FLOPs, the KV cache and training parameter states are "
                            "counted layer by layer; the engine sections, training activations "
                            "and communication volumes use num_attention_heads for every layer "
                            "(approximate)"))


FAMILIES: dict[str, Callable[[_Reader, str], ModelSpec]] = {
    "llama": _llama, "mistral": _mistral, "qwen2": _qwen2, "qwen3": _qwen3, "gemma": _gemma,
    "mixtral": _mixtral, "phimoe": _phimoe, "granitemoe": _granitemoe, "olmoe": _olmoe,
    "qwen2_moe": _qwen2_moe, "qwen3_moe": _qwen3_moe,
    "deepseek_v2": lambda r, n: _deepseek(r, n, v3=False),
    "deepseek_v3": lambda r, n: _deepseek(r, n, v3=True),
    "glm4_moe": _glm4_moe, "gpt_oss": _gpt_oss, "llama4_text": _llama4_text,
    "dbrx": _dbrx, "jetmoe": _jetmoe, "gpt2": _gpt2, "gpt_bigcode": _gpt2, "falcon": _falcon,
    "gptj": _gptj, "codegen": _gptj, "gpt_neo": _gpt_neo,
    # GLM-4.7-Flash: DeepSeek-V3's MLA and routing; MoE layers from mlp_layer_types (default:
    # the first layer dense); no MTP field in its transformers config.
    "glm4_moe_lite": lambda r, n: _deepseek(r, n, v3=True, layers=_sparse_mlp_layer_types(
        lambda r: 1), mtp=False),
    **{mt: functools.partial(_from_table, fam=fam) for mt, fam in TABLE.items()},
    # hybrids (issue #13)
    "qwen3_next": _qwen3_next, "jamba": _jamba, "bamba": _bamba,
    "granitemoehybrid": _granitemoehybrid, "nemotron_h": _nemotron_h, "falcon_h1": _falcon_h1,
    "lfm2": _lfm2, "lfm2_moe": _lfm2, "minimax": _minimax, "zamba2": _zamba2,
    "zamba": _zamba,
    # Qwen3.5 (text models; the multimodal wrappers are in WRAPPERS)
    "qwen3_5_text": functools.partial(_qwen3_5, moe=False),
    "qwen3_5_moe_text": functools.partial(_qwen3_5, moe=True),
    # families added for current configs
    "afmoe": _afmoe, "stablelm": _stablelm, "minicpm3": functools.partial(
        _dense_mla, mlp_bias=True,
        notes=("muP scalings (scale_emb, scale_depth) have no parameters",)),
    "youtu": functools.partial(_dense_mla, mlp_bias=False), "hyperclovax": _hyperclovax,
    "mpt": _mpt, "opt": _opt, "apertus": _apertus, "apertus1p5_text": _apertus1p5_text,
    "aria_text": _aria_text,
    **_SHARED_CLASS_LOADERS,
    "deepseek_v32": _deepseek_v32, "kimi_linear": _kimi_linear, "glm_moe_dsa": _glm_moe_dsa,
    "bailing_hybrid": _bailing_hybrid, "lfm3": _lfm3,
    "longcat_flash": _longcat_flash, "deepseek_v4": _deepseek_v4,
    "bloom": _renamed(_bloom, {"num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}),
    "xglm": _renamed(_xglm, {"num_hidden_layers": "num_layers", "hidden_size": "d_model",
                             "num_attention_heads": "attention_heads"}),
    "biogpt": _biogpt, "bitnet": _bitnet, "gpt-sw3": _gpt2,
    "openai-gpt": _renamed(_openai_gpt, _GPT_NAMES), "ctrl": _renamed(_ctrl, _GPT_NAMES),
    "axk1": _axk1,
    "axk2": _axk2,
    "hy_v4": _hy_v4,
    # pure state-space models (issue #13)
    "mamba": _mamba_pure, "falcon_mamba": _mamba_pure, "mamba2": _mamba2_pure,
    "olmo_hybrid": _olmo_hybrid,
    "lara_mini": _lara_mini,
    "recurrent_gemma": _recurrent_gemma, "rwkv": _rwkv, "xlstm": _xlstm,
    "gemma4_text": _gemma4_text, "mimo_v2_flash": _mimo_v2_flash, "laguna": _laguna,
    "gemma4_unified_text": functools.partial(_gemma4_text, unified=True),
    "gemma3n_text": _gemma3n_text,
}
SUPPORTED_MODEL_TYPES = tuple(sorted([*FAMILIES, "llama4", "gemma3", "gemma4", "qwen2_5_vl",
                                      "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe",
                                      "gemma3n", "aria", "cohere_compass"]))  # + WRAPPERS

#: transformers' model class of each supported family (``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``, plus
#: Llama-4's multimodal class; tests/test_coverage.py checks the table against transformers). A
#: config whose ``model_type`` is unknown but whose ``architectures`` names one of these classes
#: is read as that family (Kimi-K2 ships ``model_type: kimi_k2`` with ``DeepseekV3ForCausalLM``).
ARCHITECTURES: dict[str, str] = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3", "GemmaForCausalLM": "gemma", "MixtralForCausalLM": "mixtral",
    "PhimoeForCausalLM": "phimoe", "GraniteMoeForCausalLM": "granitemoe",
    "OlmoeForCausalLM": "olmoe", "Qwen2MoeForCausalLM": "qwen2_moe",
    "Qwen3MoeForCausalLM": "qwen3_moe", "DeepseekV2ForCausalLM": "deepseek_v2",
    "DeepseekV3ForCausalLM": "deepseek_v3", "Glm4MoeForCausalLM": "glm4_moe",
    "GptOssForCausalLM": "gpt_oss", "Llama4ForCausalLM": "llama4_text",
    "Llama4ForConditionalGeneration": "llama4", "DbrxForCausalLM": "dbrx",
    "JetMoeForCausalLM": "jetmoe", "Glm4MoeLiteForCausalLM": "glm4_moe_lite",
    "Ernie4_5_MoeForCausalLM": "ernie4_5_moe", "HunYuanMoEV1ForCausalLM": "hunyuan_v1_moe",
    "AriaTextForCausalLM": "aria_text", "AriaForConditionalGeneration": "aria",
    "Apertus1p5TextForCausalLM": "apertus1p5_text",
    "CohereCompassForCausalLM": "cohere_compass_text",
    "CohereCompassForConditionalGeneration": "cohere_compass",
    "MiniMaxM2ForCausalLM": "minimax_m2", "Dots1ForCausalLM": "dots1",
    "GraniteMoeSharedForCausalLM": "granitemoeshared", "FlexOlmoForCausalLM": "flex_olmo",
    "ExaoneMoeForCausalLM": "exaone_moe", "MinistralForCausalLM": "ministral",
    "GraniteForCausalLM": "granite",
    "SeedOssForCausalLM": "seed_oss", "Ernie4_5ForCausalLM": "ernie4_5",
    "Olmo2ForCausalLM": "olmo2", "Olmo3ForCausalLM": "olmo3", "Exaone4ForCausalLM": "exaone4",
    "Gemma2ForCausalLM": "gemma2", "Gemma3ForCausalLM": "gemma3_text", "Glm4ForCausalLM": "glm4",
    "Gemma4ForCausalLM": "gemma4_text", "Gemma3nForCausalLM": "gemma3n_text",
    "MiMoV2FlashForCausalLM": "mimo_v2_flash",
    "LagunaForCausalLM": "laguna", "Gemma4UnifiedForCausalLM": "gemma4_unified_text",
    "Phi3ForCausalLM": "phi3", "Starcoder2ForCausalLM": "starcoder2",
    "CohereForCausalLM": "cohere", "Cohere2ForCausalLM": "cohere2",
    "GPTNeoXForCausalLM": "gpt_neox", "Gemma3ForConditionalGeneration": "gemma3",
    "Gemma4ForConditionalGeneration": "gemma4", "Gemma3nForConditionalGeneration": "gemma3n",
    "HeliumForCausalLM": "helium", "SmolLM3ForCausalLM": "smollm3",
    "HunYuanDenseV1ForCausalLM": "hunyuan_v1_dense", "Cohere2MoeForCausalLM": "cohere2_moe",
    "GPT2LMHeadModel": "gpt2", "GPTBigCodeForCausalLM": "gpt_bigcode",
    "FalconForCausalLM": "falcon", "ArceeForCausalLM": "arcee",
    "Ministral3ForCausalLM": "ministral3", "VaultGemmaForCausalLM": "vaultgemma",
    "GraniteSWAForCausalLM": "granite_swa", "GlmForCausalLM": "glm",
    "GraniteMoeSWAForCausalLM": "granitemoe_swa", "Jais2ForCausalLM": "jais2",
    "PhiForCausalLM": "phi", "OlmoForCausalLM": "olmo", "GPTJForCausalLM": "gptj",
    "CodeGenForCausalLM": "codegen", "GPTNeoForCausalLM": "gpt_neo",
    "Qwen2_5_VLForConditionalGeneration": "qwen2_5_vl",
    "Qwen3VLMoeForConditionalGeneration": "qwen3_vl_moe",
    "Qwen3NextForCausalLM": "qwen3_next", "JambaForCausalLM": "jamba",
    "BambaForCausalLM": "bamba", "GraniteMoeHybridForCausalLM": "granitemoehybrid",
    "NemotronHForCausalLM": "nemotron_h", "FalconH1ForCausalLM": "falcon_h1",
    "Lfm2ForCausalLM": "lfm2", "Lfm2MoeForCausalLM": "lfm2_moe",
    "MiniMaxForCausalLM": "minimax", "Zamba2ForCausalLM": "zamba2",
    "ZambaForCausalLM": "zamba",
    "Qwen3_5ForCausalLM": "qwen3_5_text", "Qwen3_5MoeForCausalLM": "qwen3_5_moe_text",
    "Qwen3_5ForConditionalGeneration": "qwen3_5",
    "Qwen3_5MoeForConditionalGeneration": "qwen3_5_moe",
    "SolarOpenForCausalLM": "solar_open", "AfmoeForCausalLM": "afmoe",
    "HYV3ForCausalLM": "hy_v3", "CwmForCausalLM": "cwm", "NanoChatForCausalLM": "nanochat",
    "NemotronForCausalLM": "nemotron", "PersimmonForCausalLM": "persimmon",
    "StableLmForCausalLM": "stablelm", "MiniCPM3ForCausalLM": "minicpm3",
    "YoutuForCausalLM": "youtu", "HyperCLOVAXForCausalLM": "hyperclovax",
    "MellumForCausalLM": "mellum", "MptForCausalLM": "mpt",
    "OPTForCausalLM": "opt", "FlintForCausalLM": "flint",
    "Kolibri1ForCausalLM": "kolibri1", "ApertusForCausalLM": "apertus",
    "DeepseekV32ForCausalLM": "deepseek_v32", "KimiLinearForCausalLM": "kimi_linear",
    "BailingHybridForCausalLM": "bailing_hybrid", "Lfm3ForCausalLM": "lfm3",
    "GlmMoeDsaForCausalLM": "glm_moe_dsa", "LongcatFlashForCausalLM": "longcat_flash",
    "DeepseekV4ForCausalLM": "deepseek_v4",
    "BloomForCausalLM": "bloom", "XGLMForCausalLM": "xglm", "BioGptForCausalLM": "biogpt",
    "BitNetForCausalLM": "bitnet", "OpenAIGPTLMHeadModel": "openai-gpt",
    "CTRLLMHeadModel": "ctrl", "AXK1ForCausalLM": "axk1",
    "AXK2ForCausalLM": "axk2", "HYV4ForCausalLM": "hy_v4",
    "MambaForCausalLM": "mamba", "FalconMambaForCausalLM": "falcon_mamba",
    "Mamba2ForCausalLM": "mamba2",
    "OlmoHybridForCausalLM": "olmo_hybrid",
    "LaraMiniForCausalLM": "lara_mini",
    "RecurrentGemmaForCausalLM": "recurrent_gemma", "RwkvForCausalLM": "rwkv",
    "xLSTMForCausalLM": "xlstm",
}

_CUSTOM_HINT = ("to estimate it anyway, write a spec with model_type: custom and the ModelSpec "
                "field names (estimator/spec.py; README, Models)")


def _supported_hint(mt: Any) -> str:
    """Where the supported families are listed, and the nearest names to ``mt`` (the full list,
    130+ names, would bury the message)."""
    import difflib

    near = (difflib.get_close_matches(mt.lower(), SUPPORTED_MODEL_TYPES, n=3, cutoff=0.6)
            if isinstance(mt, str) and len(mt) <= 64 else [])
    return ((f"did you mean {' or '.join(near)}? " if near else "")
            + f"{len(SUPPORTED_MODEL_TYPES)} model_type values load: "
            "`python -m estimator list --families` or the README's Models section")


#: Multimodal wrappers not loaded yet whose language model is a supported family (the
#: ``model_type`` transformers gives their ``text_config`` when the file leaves it out).
TEXT_OF_WRAPPER = {"apertus1p5": "apertus1p5_text"}


def _unsupported(mt: Any, cfg: Mapping[str, Any] | None = None) -> EstimatorError:
    from .coverage import why_not  # pure data

    tc = cfg.get("text_config") if cfg is not None else None
    default = TEXT_OF_WRAPPER.get(mt) if isinstance(mt, str) else None  # mt may be a list
    inner = tc.get("model_type", default) if isinstance(tc, Mapping) else None
    if isinstance(inner, str) and inner in FAMILIES:
        return EstimatorError("model_type", mt, f"a multimodal wrapper not loaded yet; its "
                              f"language model loads: pass its text_config alone as the config, "
                              f"with \"model_type\": \"{inner}\" (the vision and other encoders "
                              "are then not counted)")
    why = why_not(mt) if isinstance(mt, str) else None
    return EstimatorError("model_type", mt, "unsupported" + (f" ({why})" if why else "")
                          + "; " + _supported_hint(None if why else mt) + "; " + _CUSTOM_HINT)


def _family_from_architectures(cfg: Mapping[str, Any]) -> str | None:
    arch = cfg.get("architectures")
    if not isinstance(arch, (list, tuple)):
        return None
    for a in arch:
        if isinstance(a, str) and a in ARCHITECTURES:
            return ARCHITECTURES[a]
    return None


def _sub_config(cfg: Mapping[str, Any], key: str, model_type: str,
                required: bool = True) -> Mapping[str, Any]:
    sub = cfg.get(key)
    if sub is None and not required:
        return {}
    if not isinstance(sub, Mapping):
        raise EstimatorError(key, sub, f"required for model_type '{model_type}' (a mapping)")
    return sub


def _wrapper_tie(cfg: Mapping[str, Any], default: bool) -> bool:
    """A multimodal wrapper's own ``tie_word_embeddings`` (its config class's ``default`` when
    absent): transformers ties the head by the wrapper's flag, not its text config's."""
    tie = cfg.get("tie_word_embeddings", default)
    if not isinstance(tie, bool):
        raise EstimatorError("tie_word_embeddings", tie, "must be true or false")
    return tie


def _vision_reader(cfg: Mapping[str, Any], wrapper: str, vision_type: str) -> _Reader:
    """The wrapper's ``vision_config`` (absent: transformers' defaults, as its config class
    builds them)."""
    vc = _sub_config(cfg, "vision_config", wrapper, required=False)
    return _Reader(vc, vision_type, where="vision_config.",
                   defaults=vision.VISION_DEFAULTS[vision_type])


def _vision_ints(r: _Reader, *keys: str) -> list[int]:
    return [r.opt_int(k, 1) for k in keys]


def _siglip_vision(r: _Reader, text_h: int) -> int:
    """SigLIP tower + Gemma-3 projector (:func:`~estimator.vision.siglip_vision_params`)."""
    h, f, L, a, c, img, p = _vision_ints(r, "hidden_size", "intermediate_size",
                                         "num_hidden_layers", "num_attention_heads",
                                         "num_channels", "image_size", "patch_size")
    if h % a:  # SiglipAttention refuses it
        raise EstimatorError(r.name_of("num_attention_heads"), a,
                             f"must divide vision_config.hidden_size={h}")
    return (vision.siglip_vision_params(h, f, L, c, img, p, r.flag("vision_use_head"))
            + vision.gemma3_projector_params(h, text_h))


def _llama4_vision(r: _Reader, text_h: int) -> int:
    """Llama-4 vision encoder + projector (:func:`~estimator.vision.llama4_vision_params`)."""
    h, f, L, a, c, img, p, out, p_in, p_out = _vision_ints(
        r, "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_channels", "image_size", "patch_size", "vision_output_dim", "projector_input_dim",
        "projector_output_dim")
    return (vision.llama4_vision_params(h, f, L, a, c, img, p, p_in, p_out)
            + vision.llama4_projector_params(out, text_h))


_VISION_NOTE = ("vision encoder and projector counted apart (params.vision), in served weights "
                "unless include_vision is false")


def _gemma4(cfg: Mapping[str, Any], name: str) -> ModelSpec:
    """Gemma-4 multimodal (``Gemma4ForConditionalGeneration``): the ``gemma4_text`` model under
    ``text_config``, and — when ``vision_config`` / ``audio_config`` are present (both optional,
    ``Gemma4Config.sub_configs_defaults``) — the vision and audio encoders with their embedders,
    counted apart (:func:`~estimator.vision.gemma4_vision_params`,
    :func:`~estimator.vision.gemma4_audio_params`). The wrapper's ``tie_word_embeddings``
    (default true) ties the output head, as for Gemma-3."""
    tc = _sub_config(cfg, "text_config", "gemma4")
    spec = _gemma4_text(_Reader(tc, "gemma4_text", where="text_config."), name)
    tie = _wrapper_tie(cfg, True)
    th, v = spec.hidden_size, 0
    if cfg.get("vision_config") is not None:
        r = _vision_reader(cfg, "gemma4", "gemma4_vision")
        h, f, L, a, g, d, p, P = _vision_ints(r, "hidden_size", "intermediate_size",
                                              "num_hidden_layers", "num_attention_heads",
                                              "num_key_value_heads", "head_dim", "patch_size",
                                              "position_embedding_size")
        v += vision.gemma4_vision_params(h, f, L, a, g, d, p, P, th)
    if cfg.get("audio_config") is not None:
        ac = _sub_config(cfg, "audio_config", "gemma4")
        r = _Reader(ac, "gemma4_audio", where="audio_config.",
                    defaults=vision.VISION_DEFAULTS["gemma4_audio"])
        h, L, a, k, out = _vision_ints(r, "hidden_size", "num_hidden_layers",
                                       "num_attention_heads", "conv_kernel_size",
                                       "output_proj_dims")
        ch = r.opt("subsampling_conv_channels")
        if not isinstance(ch, (list, tuple)) or len(ch) != 2:
            raise EstimatorError("audio_config.subsampling_conv_channels", ch,
                                 "must be a list of two channel counts")
        c0, c1 = (check_int(f"audio_config.subsampling_conv_channels[{i}]", c, 1)
                  for i, c in enumerate(ch))
        v += vision.gemma4_audio_params(h, L, a, c0, c1, k, out, th)
    note = ("vision and audio encoders and their embedders counted apart (params.vision), in "
            "served weights unless include_vision is false")
    return spec.replace(model_type="gemma4", tie_word_embeddings=tie, vision_params=v,
                        notes=spec.notes + ((note,) if v else ()))


#: What the ``gemma3n`` wrapper leaves out.
GEMMA3N_TOWERS_NOTE = (
    "Gemma-3n multimodal: the language model only; the vision tower (timm's MobileNet-V5, "
    "vision_config.architecture), the audio encoder (a USM conformer) and their embedders "
    "(embed_vision, embed_audio) are not counted (params.vision = 0): the vision tower is "
    "defined in timm, which this project does not model, and a partial tower count would "
    "mislead; serving weights and memory exclude them (vLLM's text-only Gemma-3n skips them too)")


def _gemma3n(cfg: Mapping[str, Any], name: str) -> ModelSpec:
    """Gemma-3n multimodal (``Gemma3nForConditionalGeneration``): the ``gemma3n_text`` model
    under ``text_config``; the output head tied by the wrapper's ``tie_word_embeddings``
    (default true), as for Gemma-3. The towers are left out (:data:`GEMMA3N_TOWERS_NOTE`)."""
    tc = _sub_config(cfg, "text_config", "gemma3n")
    spec = _gemma3n_text(_Reader(tc, "gemma3n_text", where="text_config."), name)
    tie = _wrapper_tie(cfg, True)
    return spec.replace(model_type="gemma3n", tie_word_embeddings=tie,
                        notes=spec.notes + (GEMMA3N_TOWERS_NOTE,))


def _llama4(cfg: Mapping[str, Any], name: str) -> ModelSpec:
    """Multimodal wrapper: the language model lives under ``text_config``; the vision encoder
    and projector (``vision_config``) are counted apart."""
    tc = _sub_config(cfg, "text_config", "llama4")
    spec = _llama4_text(_Reader(tc, "llama4_text", where="text_config."), name)
    v = _llama4_vision(_vision_reader(cfg, "llama4", "llama4_vision_model"), spec.hidden_size)
    return spec.replace(model_type="llama4", vision_params=v, notes=spec.notes + (_VISION_NOTE,))


def _gemma3(cfg: Mapping[str, Any], name: str) -> ModelSpec:
    """Gemma-3 multimodal (``Gemma3ForConditionalGeneration``): the ``gemma3_text`` model under
    ``text_config``, a SigLIP vision tower and projector counted apart. The output head is tied
    by the wrapper's own ``tie_word_embeddings`` (default true), not ``text_config``'s:
    transformers builds an untied ``lm_head`` when the top level says false, whatever the text
    config says."""
    tc = _sub_config(cfg, "text_config", "gemma3")
    spec = _from_table(_Reader(tc, "gemma3_text", where="text_config."), name,
                       TABLE["gemma3_text"])
    tie = _wrapper_tie(cfg, True)
    v = _siglip_vision(_vision_reader(cfg, "gemma3", "siglip_vision_model"), spec.hidden_size)
    return spec.replace(model_type="gemma3", tie_word_embeddings=tie, vision_params=v,
                        notes=spec.notes + (_VISION_NOTE,))


def _aria(cfg: Mapping[str, Any], name: str) -> ModelSpec:
    """Aria (``AriaForConditionalGeneration``): the ``aria_text`` MoE under ``text_config``, an
    Idefics3 vision tower (SigLIP's blocks without the pooling head) and Aria's cross-attention
    projector (:func:`~estimator.vision.aria_projector_params`), counted apart. The head is tied
    by the wrapper's ``tie_word_embeddings`` (default false); the text config's is ignored, as
    transformers 5.24 builds it."""
    r = _Reader(_sub_config(cfg, "text_config", "aria"), "aria_text", where="text_config.")
    spec = _aria_text(r, name)
    tie = _wrapper_tie(cfg, False)
    vr = _vision_reader(cfg, "aria", "idefics3_vision")
    h, f, L, a, c, img, p = _vision_ints(vr, "hidden_size", "intermediate_size",
                                         "num_hidden_layers", "num_attention_heads",
                                         "num_channels", "image_size", "patch_size")
    if h % a:  # nn.MultiheadAttention and Idefics3VisionAttention refuse it
        raise EstimatorError(vr.name_of("num_attention_heads"), a,
                             f"must divide vision_config.hidden_size={h}")
    q = cfg.get("projector_patch_to_query_dict")
    if q is None:
        queries = 256  # AriaConfig's default {1225: 128, 4900: 256}
    else:
        vals = list(q.values()) if isinstance(q, Mapping) and q else None
        if not vals or not all(isinstance(x, (int, str)) and str(x).isdigit() for x in vals):
            raise EstimatorError("projector_patch_to_query_dict", q,
                                 "must map patch counts to query counts (positive integers)")
        queries = check_int("projector_patch_to_query_dict", max(int(x) for x in vals), 1)
    v = (vision.siglip_vision_params(h, f, L, c, img, p, use_head=False)
         + vision.aria_projector_params(h, spec.hidden_size, queries))
    return spec.replace(model_type="aria", tie_word_embeddings=tie, vision_params=v,
                        notes=spec.notes + (_VISION_NOTE,))


def _cohere_compass(cfg: Mapping[str, Any], name: str) -> ModelSpec:
    """Cohere North (``CohereCompassForConditionalGeneration``): the ``cohere_compass_text``
    model under ``text_config`` and a Qwen3-VL vision tower with DeepStack mergers
    (``CohereCompassVisionModel``), counted apart. The head is tied by the wrapper's
    ``tie_word_embeddings`` (default false); the text config's is ignored, as transformers 5.24
    builds it."""
    r = _Reader(_sub_config(cfg, "text_config", "cohere_compass"), "cohere_compass_text",
                where="text_config.")
    spec = _from_table(r, name, TABLE["cohere_compass_text"])
    tie = _wrapper_tie(cfg, False)
    v = _qwen_vision(cfg, "cohere_compass", "cohere_compass_vision")
    return spec.replace(model_type="cohere_compass", tie_word_embeddings=tie, vision_params=v,
                        notes=spec.notes + (_VISION_NOTE,))


#: transformers' defaults of the text models inside the Qwen-VL wrappers (their configuration
#: classes ``Qwen2_5_VLTextConfig`` and ``Qwen3VLMoeTextConfig``; checked by tests/test_vision.py).
WRAPPER_TEXT_DEFAULTS: dict[str, dict[str, Any]] = {
    "qwen2_5_vl_text": dict(num_key_value_heads=8, tie_word_embeddings=False,
                            use_sliding_window=False, sliding_window=4096, max_window_layers=80,
                            layer_types=None),
    "qwen3_vl_moe_text": dict(num_key_value_heads=16, head_dim=None, tie_word_embeddings=True,
                              attention_bias=False, decoder_sparse_step=1, mlp_only_layers=None),
}


def _qwen_vl_text(cfg: Mapping[str, Any], text_type: str) -> _Reader:
    """The text model's reader: ``text_config``, or the top level of a flat (pre-v5) config,
    whose text fields transformers moves into ``text_config`` (``Qwen2_5_VLConfig``)."""
    tc = cfg.get("text_config")
    if tc is None:
        return _Reader(cfg, text_type, defaults=WRAPPER_TEXT_DEFAULTS[text_type])
    tc = _sub_config(cfg, "text_config", text_type)
    return _Reader(tc, text_type, where="text_config.",
                   defaults=WRAPPER_TEXT_DEFAULTS[text_type])


def _qwen_vl_tie(cfg: Mapping[str, Any], r: _Reader, text_counts: bool) -> bool:
    """The lm_head is tied by the wrapper's ``tie_word_embeddings`` (default false). Qwen2.5-VL
    also ties it when a pre-v5 file put a true value in ``text_config``
    (``Qwen2_5_VLConfig.__post_init__`` forwards it); Qwen3-VL-MoE ignores the text config's
    value (transformers 5.24 builds an untied head whatever it says)."""
    top = cfg.get("tie_word_embeddings", False)
    if not isinstance(top, bool):
        raise EstimatorError("tie_word_embeddings", top, "must be true or false")
    return top or (text_counts and r.cfg is not cfg and r.flag("tie_word_embeddings"))


def _qwen_vision(cfg: Mapping[str, Any], wrapper: str, vision_type: str) -> int:
    r = _vision_reader(cfg, wrapper, vision_type)
    h, f, depth, c, p, t, m, out = _vision_ints(
        r, "hidden_size", "intermediate_size", "depth", "in_channels", "patch_size",
        "temporal_patch_size", "spatial_merge_size", "out_hidden_size")
    if vision_type == "qwen2_5_vl_vision":
        return vision.qwen2_5_vl_vision_params(h, f, depth, c, p, t, m, out)
    ds = r.opt("deepstack_visual_indexes")
    if not isinstance(ds, (list, tuple)):
        raise EstimatorError(r.name_of("deepstack_visual_indexes"), ds, "must be a list")
    return vision.qwen3_vl_vision_params(h, f, depth, c, p, t, m, out,
                                         r.opt_int("num_position_embeddings", 1), len(ds))


def _qwen2_5_vl(cfg: Mapping[str, Any], name: str) -> ModelSpec:
    """Qwen2.5-VL: a Qwen2 language model (q/k/v biases, ``layer_types`` sliding rule) and a
    vision tower with window attention and a patch merger, counted apart."""
    r = _qwen_vl_text(cfg, "qwen2_5_vl_text")
    spec = _qwen2(r, name)
    # Qwen2_5_VLAttention sizes heads as hidden_size // num_attention_heads (a head_dim key is
    # ignored) and refuses a remainder
    return spec.replace(model_type="qwen2_5_vl", tie_word_embeddings=_qwen_vl_tie(cfg, r, True),
                        head_dim=0,
                        vision_params=_qwen_vision(cfg, "qwen2_5_vl", "qwen2_5_vl_vision"),
                        notes=spec.notes + (_VISION_NOTE,))


def _qwen3_vl_moe(cfg: Mapping[str, Any], name: str) -> ModelSpec:
    """Qwen3-VL-MoE: a Qwen3-MoE language model (per-head q/k norm, ``decoder_sparse_step`` /
    ``mlp_only_layers``, no sliding window: its text config forces none) and a vision tower with
    DeepStack mergers, counted apart."""
    r = _qwen_vl_text(cfg, "qwen3_vl_moe_text")
    c = _common(r, name)
    ab = r.flag("attention_bias")
    spec = ModelSpec(**c, **_qwen_moe_common(r, c), attention_bias=ab, attention_out_bias=ab,
                     qk_norm="head")
    return spec.replace(model_type="qwen3_vl_moe",
                        tie_word_embeddings=_qwen_vl_tie(cfg, r, False),
                        vision_params=_qwen_vision(cfg, "qwen3_vl_moe", "qwen3_vl_moe_vision"),
                        notes=(_VISION_NOTE,))


def _qwen3_5_vl(cfg: Mapping[str, Any], name: str, moe: bool) -> ModelSpec:
    """Qwen3.5 multimodal (``Qwen3_5ForConditionalGeneration``,
    ``Qwen3_5MoeForConditionalGeneration``): the ``qwen3_5_text`` / ``qwen3_5_moe_text`` model
    under ``text_config`` and a Qwen3-VL vision tower without DeepStack mergers
    (``Qwen3_5VisionModel``: one patch merger), counted apart. The lm_head is tied by the
    wrapper's ``tie_word_embeddings`` (default false); transformers 5.24 ignores the text
    config's value."""
    wrapper = "qwen3_5_moe" if moe else "qwen3_5"
    r = _Reader(_sub_config(cfg, "text_config", wrapper), wrapper + "_text", where="text_config.")
    spec = _qwen3_5(r, name, moe)
    vr = _vision_reader(cfg, wrapper, wrapper + "_vision")
    h, f, depth, c, p, t, m, out = _vision_ints(
        vr, "hidden_size", "intermediate_size", "depth", "in_channels", "patch_size",
        "temporal_patch_size", "spatial_merge_size", "out_hidden_size")
    v = vision.qwen3_vl_vision_params(h, f, depth, c, p, t, m, out,
                                      vr.opt_int("num_position_embeddings", 1), 0)
    return spec.replace(model_type=wrapper, tie_word_embeddings=_qwen_vl_tie(cfg, r, False),
                        vision_params=v, notes=spec.notes + (_VISION_NOTE,))


#: Multimodal wrappers: ``model_type`` → reader of the whole config (language model + vision).
WRAPPERS: dict[str, Callable[[Mapping[str, Any], str], ModelSpec]] = {
    "llama4": _llama4, "gemma3": _gemma3, "qwen2_5_vl": _qwen2_5_vl, "qwen3_vl_moe": _qwen3_vl_moe,
    "aria": _aria, "cohere_compass": _cohere_compass,
    "gemma4": _gemma4, "gemma3n": _gemma3n,
    "qwen3_5": functools.partial(_qwen3_5_vl, moe=False),
    "qwen3_5_moe": functools.partial(_qwen3_5_vl, moe=True),
}


def spec_from_hf_config(cfg: Mapping[str, Any], name: str = "custom") -> ModelSpec:
    """Build a spec from a Hugging Face ``config.json`` dict (see module docstring).

    An unknown ``model_type`` falls back to the family whose transformers class
    ``architectures`` names (:data:`ARCHITECTURES`); ``spec.notes`` says so.
    """
    if not isinstance(cfg, Mapping):
        raise EstimatorError("config", type(cfg).__name__, "must be a mapping (a JSON object)")
    mt = cfg.get("model_type")
    if mt is None:
        raise EstimatorError("model_type", None, "missing; " + _supported_hint(None)
                             + "; " + _CUSTOM_HINT)
    note = None
    if not isinstance(mt, str) or (mt not in FAMILIES and mt not in WRAPPERS):
        family = _family_from_architectures(cfg)
        if family is None:
            raise _unsupported(mt, cfg)
        arch = next(a for a in cfg["architectures"] if ARCHITECTURES.get(a) == family)
        note = (f"model_type {mt!r} is not a supported family; read as "
                f"{family!r} because architectures names {arch}")
        mt = family
    spec = WRAPPERS[mt](cfg, name) if mt in WRAPPERS else FAMILIES[mt](_Reader(cfg, mt), name)
    return spec if note is None else spec.replace(notes=(note,) + spec.notes)

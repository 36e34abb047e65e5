"""Minimal Hugging Face config dicts: only the fields our importer requires, per family.

Shared by tests/test_hf_defaults.py (a minimal dict counts like transformers) and
tests/test_spec.py (dropping any one required field is an error naming it). Pure data, no torch.
"""

from __future__ import annotations

#: The fields each family requires (the importer's documented policy: the sizes that define the
#: model). Head counts are chosen compatible with each family's default ``num_key_value_heads``.
_BASE = dict(num_hidden_layers=4, hidden_size=64, vocab_size=101, num_attention_heads=32)
REQUIRED: dict[str, dict] = {
    "llama": dict(_BASE, intermediate_size=96),
    "mistral": dict(_BASE, intermediate_size=96),
    "qwen2": dict(_BASE, intermediate_size=96),
    "qwen3": dict(_BASE, intermediate_size=96),
    "gemma": dict(_BASE, intermediate_size=96),
    "mixtral": dict(_BASE, intermediate_size=96, num_local_experts=4, num_experts_per_tok=2),
    "phimoe": dict(_BASE, intermediate_size=96, num_local_experts=4, num_experts_per_tok=2),
    "granitemoe": dict(_BASE, intermediate_size=96, num_local_experts=4, num_experts_per_tok=2),
    "olmoe": dict(_BASE, intermediate_size=96, num_experts=4, num_experts_per_tok=2),
    "qwen2_moe": dict(_BASE, moe_intermediate_size=40, shared_expert_intermediate_size=56,
                      num_experts=4, num_experts_per_tok=2),
    "qwen3_moe": dict(_BASE, moe_intermediate_size=40, num_experts=4, num_experts_per_tok=2),
    "deepseek_v2": dict(_BASE, moe_intermediate_size=40, n_routed_experts=4,
                        num_experts_per_tok=2),
    "deepseek_v3": dict(_BASE, intermediate_size=96, moe_intermediate_size=40,
                        n_routed_experts=4, num_experts_per_tok=2),
    "glm4_moe": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, n_routed_experts=4,
                     num_experts_per_tok=2),
    "gpt_oss": dict(_BASE, intermediate_size=96, num_local_experts=4, num_experts_per_tok=2),
    "llama4_text": dict(_BASE, intermediate_size=96, num_local_experts=4, num_experts_per_tok=2),
    "dbrx": dict(d_model=64, n_heads=4, n_layers=3, vocab_size=101,
                 ffn_config=dict(ffn_hidden_size=48, moe_num_experts=4, moe_top_k=2)),
    "jetmoe": dict(num_hidden_layers=3, hidden_size=64, vocab_size=101, intermediate_size=48,
                   num_local_experts=4, num_experts_per_tok=2),
    "ernie4_5_moe": dict(_BASE, intermediate_size=96, moe_intermediate_size=40,
                         moe_num_experts=4, moe_k=2),
    "hunyuan_v1_moe": dict(_BASE, intermediate_size=96, num_experts=4, moe_topk=2, head_dim=8),
    "aria_text": dict(_BASE, intermediate_size=96, moe_num_experts=4, moe_topk=2),
    "minimax_m2": dict(_BASE, intermediate_size=96, num_local_experts=4, num_experts_per_tok=2),
    "dots1": dict(_BASE, moe_intermediate_size=40, n_routed_experts=4, num_experts_per_tok=2,
                  n_shared_experts=1),
    "glm4_moe_lite": dict(_BASE, intermediate_size=96, moe_intermediate_size=40,
                          n_routed_experts=4, num_experts_per_tok=2),
    "granitemoeshared": dict(_BASE, intermediate_size=96, num_local_experts=4,
                             num_experts_per_tok=2),
    "flex_olmo": dict(_BASE, intermediate_size=96, num_experts=4, num_experts_per_tok=2),
    "exaone_moe": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, num_experts=4,
                       num_experts_per_tok=2),
    "ministral": dict(_BASE, intermediate_size=96, head_dim=8),
    **{mt: dict(_BASE, intermediate_size=96) for mt in (
        "granite", "seed_oss", "ernie4_5", "olmo2", "olmo3", "exaone4", "gemma2",
        "gemma3_text", "glm4", "phi3", "starcoder2", "cohere", "cohere2", "gpt_neox",
        "smollm3", "arcee", "ministral3", "vaultgemma", "granite_swa", "glm", "jais2", "phi",
        "olmo", "cohere_compass_text")},
    # Gemma-4's default per-layer embedding table is 262,144 rows (counted; meta device)
    "gemma4_text": dict(_BASE, intermediate_size=96),
    "gemma4_unified_text": dict(_BASE, intermediate_size=96),
    # Gemma-3n: 20 layers, so that its default 15 K/V-sharing layers have a full-attention
    # layer before them (every fifth layer by default)
    "gemma3n_text": dict(_BASE, num_hidden_layers=20, intermediate_size=96),
    "mimo_v2_flash": dict(_BASE, intermediate_size=96, moe_intermediate_size=40,
                          n_routed_experts=4, num_experts_per_tok=2),
    "laguna": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, num_experts=4,
                   num_experts_per_tok=2, shared_expert_intermediate_size=24),
    "granitemoe_swa": dict(_BASE, intermediate_size=96, num_local_experts=4,
                           num_experts_per_tok=2),
    # Helium needs num_attention_heads x head_dim == hidden_size and heads divisible by its
    # default num_key_value_heads (20)
    "helium": dict(num_hidden_layers=4, hidden_size=40, vocab_size=101, num_attention_heads=20,
                   intermediate_size=96, head_dim=2),
    "hunyuan_v1_dense": dict(_BASE, intermediate_size=96, head_dim=8),
    "cohere2_moe": dict(_BASE, intermediate_size=96, num_experts=4, num_experts_per_tok=2),
    **{mt: dict(n_layer=3, n_embd=64, n_head=4, vocab_size=101, n_positions=40)
       for mt in ("gpt2", "gpt_bigcode")},
    **{mt: dict(n_layer=3, n_embd=64, n_head=4, vocab_size=101) for mt in ("gptj", "codegen")},
    "gpt_neo": dict(num_layers=2, hidden_size=64, num_heads=4, vocab_size=101,
                    max_position_embeddings=40, attention_types=[[["global", "local"], 1]]),
    "falcon": dict(_BASE),
    # hybrids (issue #13)
    "qwen3_next": dict(_BASE, moe_intermediate_size=40, shared_expert_intermediate_size=56,
                       num_experts=4, num_experts_per_tok=2),
    "jamba": dict(_BASE, intermediate_size=96, num_experts=4, num_experts_per_tok=2),
    "bamba": dict(_BASE, intermediate_size=96),
    "granitemoehybrid": dict(_BASE, intermediate_size=40, num_local_experts=4,
                             num_experts_per_tok=2),
    # Nemotron-H's layer count is the length of its (default) layers_block_type
    "nemotron_h": dict(hidden_size=64, vocab_size=101, num_attention_heads=32,
                       intermediate_size=96, n_routed_experts=4, num_experts_per_tok=2,
                       moe_intermediate_size=40, moe_shared_expert_intermediate_size=56),
    "falcon_h1": dict(_BASE, intermediate_size=96),
    # Zamba2Config's default schedule has 54 layers, and transformers accepts no other count
    "zamba2": dict(_BASE, num_hidden_layers=54),
    # 9 layers: the default schedule's 2 hybrid layers (transformers cannot tie just one)
    "zamba": dict(_BASE, num_hidden_layers=9, intermediate_size=96),
    "lfm2": dict(_BASE, intermediate_size=96),
    "lfm2_moe": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, num_experts=4,
                     num_experts_per_tok=2,
                     layer_types=["conv", "full_attention", "conv", "conv"]),
    "minimax": dict(_BASE, intermediate_size=96, num_local_experts=4, num_experts_per_tok=2),
    "solar_open": dict(_BASE, moe_intermediate_size=40, n_routed_experts=4,
                       num_experts_per_tok=2),
    "sarvam_moe": dict(_BASE, intermediate_size=96, moe_intermediate_size=40,
                       n_routed_experts=4, num_experts_per_tok=2),
    "afmoe": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, num_experts=4,
                  num_experts_per_tok=2),
    **{mt: dict(_BASE, intermediate_size=96) for mt in (
        "exaone", "internlm3", "iquestcoder", "cwm", "nanochat", "persimmon", "stablelm",
        "apertus", "apertus1p5_text")},
    "nemotron": dict(_BASE, intermediate_size=96, num_key_value_heads=8),
    **{mt: dict(_BASE, intermediate_size=96) for mt in ("minicpm3", "youtu", "hyperclovax")},
    "sarvam_mla": dict(_BASE, intermediate_size=96, moe_intermediate_size=40,
                       n_routed_experts=4, num_experts_per_tok=2),
    "opt": dict(_BASE, ffn_dim=96, max_position_embeddings=40),
    "flint": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, num_experts=4,
                  num_experts_per_tok=2),
    "kolibri1": dict(_BASE, moe_intermediate_size=40, num_local_experts=4,
                     num_experts_per_tok=2),
    "mpt": dict(n_layers=3, d_model=64, n_heads=4, vocab_size=101),
    "mellum": dict(_BASE, moe_intermediate_size=40, num_experts=4, num_experts_per_tok=2),
    "hy_v3": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, num_experts=4,
                  num_experts_per_tok=2),
    "qwen3_5_text": dict(_BASE, intermediate_size=96),
    "qwen3_5_moe_text": dict(_BASE, moe_intermediate_size=40, shared_expert_intermediate_size=56,
                             num_experts=4, num_experts_per_tok=2),
    "deepseek_v32": dict(_BASE, intermediate_size=96, moe_intermediate_size=40,
                         n_routed_experts=4, num_experts_per_tok=2),
    "longcat_flash": dict(num_layers=2, hidden_size=64, vocab_size=101, num_attention_heads=32,
                          ffn_hidden_size=96, expert_ffn_hidden_size=40, n_routed_experts=4,
                          moe_topk=2),
    "glm_moe_dsa": dict(_BASE, intermediate_size=96, moe_intermediate_size=40,
                        n_routed_experts=4, num_experts_per_tok=2),
    "deepseek_v4": dict(_BASE, moe_intermediate_size=40, n_routed_experts=4,
                        num_experts_per_tok=2),
    # Kimi-Linear's default pad_token_id (163839) must be a row of the embedding
    "kimi_linear": dict(_BASE, vocab_size=163840, intermediate_size=96, moe_intermediate_size=40,
                        num_experts=4, num_experts_per_token=2),
    # BailingHybrid's default pad_token_id (156892) must be a row of the embedding; its
    # router keeps the top 2 experts of each of its 8 default groups (16 experts)
    "bailing_hybrid": dict(_BASE, vocab_size=157184, intermediate_size=96,
                           moe_intermediate_size=40, num_experts=16, num_experts_per_token=2),
    # LFM3's default special tokens (up to 124900) must be rows of the embedding
    "lfm3": dict(_BASE, vocab_size=128000, intermediate_size=96),
    "bloom": dict(n_layer=3, hidden_size=64, n_head=4, vocab_size=101),
    "xglm": dict(num_layers=3, d_model=64, attention_heads=4, vocab_size=101, ffn_dim=96),
    "biogpt": dict(_BASE, intermediate_size=96, max_position_embeddings=40),
    # BitNet's default num_key_value_heads (5) must divide the heads
    "bitnet": dict(num_hidden_layers=3, hidden_size=40, num_attention_heads=10, vocab_size=101,
                   intermediate_size=96),
    "gpt-sw3": dict(n_layer=3, n_embd=64, n_head=4, vocab_size=101, n_positions=40),
    "openai-gpt": dict(n_layer=3, n_embd=64, n_head=4, vocab_size=101, n_positions=40),
    "ctrl": dict(n_layer=3, n_embd=64, n_head=4, vocab_size=101, n_positions=40, dff=96),
    "axk1": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, n_routed_experts=8,
                 num_experts_per_tok=2),
    "axk2": dict(_BASE, intermediate_size=96, moe_intermediate_size=40, n_routed_experts=8,
                 num_experts_per_tok=2),
    # HY-V4's default pad_token_id (120002) must be a row of the embedding
    "hy_v4": dict(_BASE, vocab_size=120832, intermediate_size=96, moe_intermediate_size=40,
                  n_routed_experts=8, num_experts_per_tok=2),
    # pure state-space models: no attention heads. Mamba-2's default heads (128 x 64) fix
    # expand x hidden_size = 8192 (Mamba2Config.validate_architecture); meta device, so no cost
    "mamba": dict(num_hidden_layers=3, hidden_size=64, vocab_size=101),
    "falcon_mamba": dict(num_hidden_layers=3, hidden_size=64, vocab_size=101),
    "mamba2": dict(num_hidden_layers=2, hidden_size=4096, vocab_size=101),
    # OLMo-Hybrid's default pad_token_id (100277) must be a row of the embedding
    "olmo_hybrid": dict(_BASE, vocab_size=100352, intermediate_size=96),
    "lara_mini": dict(_BASE, moe_intermediate_size=40, shared_expert_intermediate_size=56,
                      num_experts=4, num_experts_per_tok=2),
    "recurrent_gemma": dict(_BASE, num_attention_heads=4),
    "rwkv": dict(num_hidden_layers=3, hidden_size=64, vocab_size=101),
    "xlstm": dict(num_hidden_layers=3, hidden_size=64, vocab_size=101),
}


def minimal(family: str) -> dict:
    return {"model_type": family, **REQUIRED[family]}

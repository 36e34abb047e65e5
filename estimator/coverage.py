"""Which transformers causal-LM families load, and why the others do not yet.

``tests/test_coverage.py`` walks transformers' own causal-LM mapping
(``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``, 196 ``model_type`` entries in transformers 5.24) and
fails when a ``model_type`` is neither importable (:data:`estimator.hf.SUPPORTED_MODEL_TYPES`)
nor listed in :data:`NOT_SUPPORTED_YET` with one of the :data:`REASONS` below. A new transformers
release that adds a family therefore fails the test until someone decides what the family is.

Pure data: importing this module imports nothing else.
"""

from __future__ import annotations

#: Why a family does not load, by key.
REASONS: dict[str, str] = {
    "encoder": "encoder or encoder-decoder model that merely has a causal-LM head (BERT-style "
               "encoders, seq2seq decoders, speech/music decoders with cross-attention): out of "
               "scope — the estimator models decoder-only LLMs",
    "hybrid": "state-space, recurrent or linear-attention block the spec cannot express yet: "
              "qwen4_exp (QSA indexer, n-gram and per-layer embeddings, gated residuals), "
              "inkling* (relative-logit attention, block attention residuals, looped layers), "
              "minimax_m3_vl_text (sparse indexer attention with its own cache); the hybrid, "
              "state-space and recurrent families that load are in the README's Hybrids "
              "section",
    "multimodal": "multimodal model whose language model is not a supported family, or a text "
                  "model with cross-attention to another modality: not yet (issue #8 item 5)",
    "structure": "softmax-attention decoder whose block the spec cannot express yet "
                 "(differential attention, byte-level patching, recurrent stacks ...). Loaded "
                 "now: longcat_flash (two attention sublayers per layer, zero-computation "
                 "experts), glm_moe_dsa (DSA indexer on every layer), deepseek_v4 (compressed "
                 "attention, hyper-connections, hash-routed MoE)",
    "not_yet": "softmax-attention decoder not in the family table yet: its block needs what "
               "the spec cannot say yet (named below); load it as a `custom` spec meanwhile "
               "(README, Models)",
}

#: What each ``not_yet`` family has that the spec cannot say yet, read from its transformers
#: 5.24 ``modeling_*.py`` (appended to the reason by :func:`why_not`).
DETAILS: dict[str, str] = {
    "beam": "a per-head gate bias (gate_bias, one per query head) on its attention output gate, "
            "which the spec's gate (attention_output_gate) cannot say",
    "cpmant": "CPM-Ant: segment embeddings, a learned relative-position bias table and its own "
              "bias-free gated FFN and attention blocks",
    "doge": "dynamic-mask attention (dt_proj and a per-K/V-head A), learned residual scales and "
            "a cross-domain MoE of product-key embedding experts",
    "dory": "learned scale vectors in every block (sqk and s_gate on attention, suv_gate and "
            "suv_up on the MLP, lambda_1/lambda_2 on the residuals) and a per-token logit scale "
            "on the lm_head",
    "gpt_neox_japanese": "only the last layer's attention has an output bias (dense_bias), and "
                         "the MLP width is int(hidden_size x intermediate_multiple_size)",
    "modernbert-decoder": "the first layer has no attention norm, and a prediction head (an h x h "
                          "dense and a LayerNorm) runs before the lm_head",
}


_BY_REASON: dict[str, tuple[str, ...]] = {
    "encoder": (
        "bart", "bert", "bert-generation", "big_bird", "bigbird_pegasus", "blenderbot",
        "blenderbot-small", "camembert", "data2vec-text", "electra", "ernie", "marian", "mbart",
        "megatron-bert", "moss_transcribe_diarize", "musicgen", "musicgen_melody", "mvp",
        "pegasus", "plbart", "prophetnet", "rembert", "roberta", "roberta-prelayernorm",
        "roc_bert", "roformer", "trocr", "whisper", "xlm", "xlm-roberta", "xlm-roberta-xl",
        "xlnet", "xmod",
    ),
    "hybrid": (
        "inkling2_loop_text", "inkling2_text", "inkling_text",
        "minimax_m3_vl_text", "qwen4_exp", "qwen4_exp_text",
    ),
    "multimodal": (
        "dots3_note", "emu3", "fuyu",
        "gemma4_assistant", "gemma4_unified",
        "gemma4_unified_assistant", "git", "got_ocr2", "mllama", "moshi", "phi4_multimodal",
    ),
    "structure": (
        "blt", "diffllama", "dots3_note_text",
        "hrm_text", "reformer", "zaya",
    ),
    "not_yet": (
        "beam", "cpmant", "doge", "dory",
        "gpt_neox_japanese", "modernbert-decoder",
    ),
}

#: ``model_type`` → reason key (see :data:`REASONS`).
NOT_SUPPORTED_YET: dict[str, str] = {mt: why for why, mts in _BY_REASON.items() for mt in mts}


def why_not(model_type: str) -> str | None:
    """The reason ``model_type`` does not load, or None when it is not listed."""
    key = NOT_SUPPORTED_YET.get(model_type)
    if key is None:
        return None
    detail = DETAILS.get(model_type)
    return REASONS[key] + (f" ({model_type}: {detail})" if detail else "")

"""Vision towers of multimodal wrappers: exact parameter counts, reported apart from the LLM.

A multimodal checkpoint (Gemma-3, Llama-4) is a language model plus a vision encoder and a
projector into the language model's width. The estimator models the language model (parameters,
FLOPs, KV cache, training); the vision encoder and projector are counted here, exactly as
transformers instantiates them, and reported as ``params.vision``. Serving loads them (inference
weights include them unless the ``include_vision`` option is false); text-token FLOPs and the KV
cache do not involve them.

Oracle: transformers' own modules on the meta device (tests/test_vision.py). Pure arithmetic;
the importer (:mod:`estimator.hf`) reads and validates the ``vision_config`` fields.
"""

from __future__ import annotations

#: transformers' configuration-class defaults of the vision fields we read (checked by
#: tests/test_vision.py against the configuration classes of these ``model_type``s).
VISION_DEFAULTS: dict[str, dict[str, object]] = {
    "siglip_vision_model": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                num_attention_heads=12, num_channels=3, image_size=224,
                                patch_size=16, vision_use_head=True),
    # Aria's vision tower (``Idefics3VisionConfig``: SigLIP's blocks, no pooling head)
    "idefics3_vision": dict(hidden_size=1152, intermediate_size=3072, num_hidden_layers=12,
                            num_attention_heads=16, num_channels=3, image_size=224,
                            patch_size=32),
    "llama4_vision_model": dict(hidden_size=768, intermediate_size=5632, num_hidden_layers=34,
                                num_attention_heads=16, num_channels=3, image_size=448,
                                patch_size=14, vision_output_dim=7680, projector_input_dim=4096,
                                projector_output_dim=4096),
    "qwen2_5_vl_vision": dict(depth=32, hidden_size=3584, intermediate_size=3420,
                              in_channels=3, patch_size=14, temporal_patch_size=2,
                              spatial_merge_size=2, out_hidden_size=3584),
    "qwen3_vl_moe_vision": dict(depth=27, hidden_size=1152, intermediate_size=4304,
                                in_channels=3, patch_size=16, temporal_patch_size=2,
                                spatial_merge_size=2, out_hidden_size=3584,
                                num_position_embeddings=2304,
                                deepstack_visual_indexes=(8, 16, 24)),
    **{vt: dict(depth=27, hidden_size=1152, intermediate_size=4304, in_channels=3,
                patch_size=16, temporal_patch_size=2, spatial_merge_size=2,
                out_hidden_size=3584, num_position_embeddings=2304)
       for vt in ("qwen3_5_vision", "qwen3_5_moe_vision")},
    # Cohere North's tower is Qwen3-VL's (patch embed, learned positions, DeepStack mergers)
    "cohere_compass_vision": dict(depth=27, hidden_size=1152, intermediate_size=4304,
                                  in_channels=3, patch_size=16, temporal_patch_size=2,
                                  spatial_merge_size=2, out_hidden_size=3584,
                                  num_position_embeddings=2304,
                                  deepstack_visual_indexes=(8, 16, 24)),
    "gemma4_vision": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=16,
                          num_attention_heads=12, num_key_value_heads=12, head_dim=64,
                          patch_size=16, position_embedding_size=10240),
    "gemma4_audio": dict(hidden_size=1024, num_hidden_layers=12, num_attention_heads=8,
                         subsampling_conv_channels=(128, 32), conv_kernel_size=5,
                         output_proj_dims=1536),
}


def _linear(n_in: int, n_out: int, bias: bool) -> int:
    return n_in * n_out + (n_out if bias else 0)


def siglip_vision_params(h: int, f: int, layers: int, channels: int, image: int, patch: int,
                         use_head: bool) -> int:
    """SigLIP vision encoder (``modeling_siglip.SiglipVisionModel``), width ``h``, MLP ``f``.

    Embeddings: ``Conv2d(channels → h, kernel = stride = patch)`` with bias, one learned position
    per patch (``(image // patch)²``). Each of ``layers`` pre-norm blocks: q/k/v/out
    ``Linear(h, h)`` with bias, two ``LayerNorm(h)`` with bias, MLP ``fc1`` (h → f) and ``fc2``
    (f → h) with biases. ``post_layernorm``. With ``vision_use_head`` an attention-pooling head:
    a probe (h), ``nn.MultiheadAttention(h)`` (``4h² + 4h``), a LayerNorm and an MLP.
    """
    mlp = _linear(h, f, True) + _linear(f, h, True)
    embeddings = channels * patch * patch * h + h + (image // patch) ** 2 * h
    block = 4 * _linear(h, h, True) + 2 * 2 * h + mlp
    head = (h + 4 * h * h + 4 * h + 2 * h + mlp) if use_head else 0
    return embeddings + layers * block + 2 * h + head


def aria_projector_params(vision_h: int, text_h: int, queries: int) -> int:
    """``modeling_aria.AriaProjector``: ``queries`` learned query rows (the largest value of
    ``projector_patch_to_query_dict``) of width ``vision_h``; ``AriaCrossAttention``: bias-free
    q/k/v ``Linear(vision_h, vision_h)``, an ``nn.MultiheadAttention(vision_h)`` (``4v² + 4v``),
    a ``linear`` (v → v, bias) and two LayerNorms; the projector's LayerNorm(v); the MLP
    ``linear_in`` v → text_h and ``linear_out`` text_h → text_h, no biases."""
    v, t = vision_h, text_h
    cross = 3 * v * v + (4 * v * v + 4 * v) + _linear(v, v, True) + 2 * 2 * v
    return queries * v + cross + 2 * v + v * t + t * t


def gemma3_projector_params(vision_h: int, text_h: int) -> int:
    """``Gemma3MultiModalProjector``: ``mm_input_projection_weight`` (vision_h × text_h) and
    ``mm_soft_emb_norm`` (RMSNorm(vision_h)); the average pooling has no parameters."""
    return vision_h * text_h + vision_h


def llama4_vision_params(h: int, f: int, layers: int, heads: int, channels: int, image: int,
                         patch: int, projector_input_dim: int, projector_output_dim: int) -> int:
    """Llama-4 vision encoder (``modeling_llama4.Llama4VisionModel``), width ``h``, MLP ``f``.

    Patch embedding ``Linear(channels·patch² → h)`` without bias (``Llama4UnfoldConvolution``),
    a class embedding (h) and ``(image // patch)² + 1`` learned positions; ``layernorm_pre`` and
    ``layernorm_post`` (LayerNorm with bias). Each block: q/k/v ``Linear(h → a·d)`` and o
    ``Linear(a·d → h)``, all with bias (``d = h // a``); two LayerNorms; MLP ``fc1``/``fc2`` with
    biases. The pixel-shuffle adapter (``Llama4VisionMLP2``): ``fc1`` from the encoder's
    *intermediate_size* ``f`` to ``projector_input_dim`` and ``fc2``
    ``projector_output_dim → projector_output_dim``, no biases (the pixel shuffle turns ``h``
    channels into ``h / ratio²``, which the real configs make equal to ``f``).
    """
    ad = heads * (h // heads)
    embeddings = channels * patch * patch * h + h + ((image // patch) ** 2 + 1) * h
    block = 3 * _linear(h, ad, True) + _linear(ad, h, True) + 2 * 2 * h \
        + _linear(h, f, True) + _linear(f, h, True)
    adapter = f * projector_input_dim + projector_output_dim * projector_output_dim
    return embeddings + 2 * 2 * h + layers * block + adapter


def llama4_projector_params(vision_output_dim: int, text_h: int) -> int:
    """``Llama4MultiModalProjector``: ``linear_1`` (vision_output_dim → text_h), no bias."""
    return vision_output_dim * text_h


def qwen2_5_vl_vision_params(h: int, f: int, depth: int, channels: int, patch: int,
                             temporal_patch: int, merge: int, out: int) -> int:
    """Qwen2.5-VL vision tower (``modeling_qwen2_5_vl.Qwen2_5_VisionTransformerPretrainedModel``).

    Patch embedding ``Conv3d(channels → h, kernel (temporal_patch, patch, patch))`` without bias.
    Each of ``depth`` blocks: two RMSNorm(h), ``qkv`` (h → 3h) and ``proj`` (h → h) with biases,
    a gated MLP (gate/up h → f, down f → h) with biases. The patch merger: RMSNorm(h), then
    ``Linear(H, H)`` and ``Linear(H, out)`` with biases, ``H = h·merge²``.
    """
    H = h * merge * merge
    block = 2 * h + _linear(h, 3 * h, True) + _linear(h, h, True) \
        + 2 * _linear(h, f, True) + _linear(f, h, True)
    merger = h + _linear(H, H, True) + _linear(H, out, True)
    return channels * temporal_patch * patch * patch * h + depth * block + merger


def qwen3_vl_vision_params(h: int, f: int, depth: int, channels: int, patch: int,
                           temporal_patch: int, merge: int, out: int, positions: int,
                           deepstack: int) -> int:
    """Qwen3-VL / Qwen3-VL-MoE vision tower (``modeling_qwen3_vl_moe.Qwen3VLMoeVisionModel``).

    Patch embedding ``Conv3d`` with bias; ``positions`` learned position embeddings (h each).
    Each of ``depth`` blocks: two LayerNorm(h) with bias, ``qkv`` and ``proj`` with biases, a
    plain MLP ``linear_fc1`` (h → f) / ``linear_fc2`` (f → h) with biases. The patch merger:
    LayerNorm(h), ``Linear(H, H)``, ``Linear(H, out)`` with biases (``H = h·merge²``); each of the
    ``deepstack`` DeepStack mergers the same with its LayerNorm over ``H`` (post-shuffle).
    Qwen3.5's tower (``modeling_qwen3_5.Qwen3_5VisionModel``) is this one with no DeepStack
    merger (``deepstack = 0``).
    """
    H = h * merge * merge
    block = 2 * 2 * h + _linear(h, 3 * h, True) + _linear(h, h, True) \
        + _linear(h, f, True) + _linear(f, h, True)
    mlp = _linear(H, H, True) + _linear(H, out, True)
    return (channels * temporal_patch * patch * patch * h + h + positions * h + depth * block
            + 2 * h + mlp + deepstack * (2 * H + mlp))


FORMULAS = [siglip_vision_params, gemma3_projector_params, llama4_vision_params,
            llama4_projector_params, qwen2_5_vl_vision_params, qwen3_vl_vision_params]


def gemma4_vision_params(h: int, f: int, layers: int, a: int, g: int, d: int, patch: int,
                         positions: int, text_h: int) -> int:
    """Gemma-4's vision encoder and its embedder into the language model
    (``modeling_gemma4.Gemma4VisionModel``, ``Gemma4MultimodalEmbedder``).

    Patch embedder: ``input_proj`` (3·patch² → h, no bias) and a 2-D position table
    (``2·positions·h``). Each of ``layers`` blocks: q (h → a·d), k and v (h → g·d), o
    (a·d → h), no biases; q/k RMSNorm (d; ``v_norm`` has no weight); a gated MLP (3·h·f); four
    RMSNorms (h). The pooler has no parameters. Embedder: ``embedding_projection`` (h → text
    h, no bias) after a weightless norm. (Clipped-linear bounds and ``standardize``'s bias and
    scale are buffers, not parameters.)"""
    block = 2 * h * a * d + 2 * h * g * d + 2 * d + 3 * h * f + 4 * h
    return 3 * patch * patch * h + 2 * positions * h + layers * block + h * text_h


def gemma4_audio_params(h: int, layers: int, a: int, c0: int, c1: int, kernel: int, out: int,
                        text_h: int) -> int:
    """Gemma-4's audio encoder and its embedder (``modeling_gemma4.Gemma4AudioModel``,
    ``Gemma4MultimodalEmbedder``).

    Subsampling: two 3×3 ``Conv2d`` without bias (1 → c0, c0 → c1), each with a bias-free
    LayerNorm of its channels, then ``input_proj_linear`` ((c0 // 4)·c1 → h). Each of
    ``layers`` conformer blocks: two feed-forwards (h → 4h → h with a pre and a post RMSNorm),
    attention with q/k/v (h → a·(h // a)), ``post`` (h → h), ``relative_k_proj`` (h → a·(h // a))
    and ``per_dim_scale`` (h // a); a light conv (``linear_start`` h → 2h, a depthwise conv of
    ``kernel`` without bias, ``linear_end`` h → h, two RMSNorms); three RMSNorms. ``output_proj``
    (h → out, with bias); embedder ``out → text h``."""
    d = h // a
    sub = 9 * c0 + c0 + 9 * c0 * c1 + c1 + (c0 // 4) * c1 * h
    ff = 8 * h * h + 2 * h
    attn = 4 * h * a * d + h * h + d
    conv = 3 * h * h + h * kernel + 2 * h
    return sub + layers * (2 * ff + attn + conv + 3 * h) + h * out + out + out * text_h

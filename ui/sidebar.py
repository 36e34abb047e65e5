"""The shared sidebar: model (preset or your config.json), architecture edits, workload options.

Widgets are generated from the estimator's own metadata — ``ModelSpec`` fields for the
architecture editor, ``estimator.options.OPTION_FIELDS`` (help, group, choices, bounds) for the
workload — so a new field appears here without UI code. The sidebar computes the one report
per rerun; pages only render it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import streamlit as st

import estimator
from estimator.errors import EstimatorError
from estimator.hardware import load_catalog
from estimator.options import OPTION_FIELDS, make_options
from estimator.presets import (
    MAX_FILE_BYTES,
    Model,
    decode_text,
    load_model,
    model_from_dict,
    parse_text,
)
from estimator.spec import MIXER_KINDS, MLA, Mixer, MoA, ModelSpec

from . import fmt
from .state import LOG, Context
from .text import md
from .text import md as plain  # for functions where `md` is a field's metadata
from .urlcodec import (
    BLOCK_KINDS,
    CUSTOM,
    DEFAULT_PRESET,
    SPEC_KINDS,
    State,
    apply_arch,
    custom_fields,
    decode,
    diff_fields,
    encode,
    format_layers,
    parse_layers,
)

SRC_PRESET, SRC_CONFIG = "Preset", "Your config.json"
# Above the estimator's own 2 MiB limit, so a file between the two reaches the server and is
# refused with a message naming its size (the browser refuses larger ones in the uploader).
UPLOAD_LIMIT_MB = 3

# The architecture editor, in the order a reader thinks about a model. Labels are the field
# names (as in the HF configs users know); help says what each one means.
ARCH_GROUPS: dict[str, tuple[str, ...]] = {
    "MoE": (
        "num_experts", "num_experts_per_tok", "moe_intermediate_size", "moe_layers",
        "num_shared_experts", "shared_expert_intermediate_size", "shared_expert_gate",
        "router_bias", "expert_bias", "moe_output_bias", "router_score_correction_bias"),
    "Trunk": (
        "num_hidden_layers", "hidden_size", "vocab_size", "intermediate_size", "gated_ffn",
        "ffn_bias", "tie_word_embeddings", "norm_type", "norm_bias", "norm_weight",
        "lm_head_bias", "output_vocab_size",
        "max_position_embeddings", "position_embeddings", "num_mtp_layers", "vision_params"),
    "Attention": (
        "num_attention_heads", "num_key_value_heads", "head_dim", "attention_bias",
        "attention_out_bias", "fused_qkv", "qk_norm", "attention_sinks", "sliding_window",
        "sliding_window_layers", "mla", "moa", "attention_output_gate", "attention_head_gate"),
    "Hybrid": ("mixer", "mixer_layers", "parallel_mixer", "mixerless_layers", "ffnless_layers"),
    "Name": ("name", "model_type"),
}
FIELD_HELP = {
    "num_experts": "E: routed experts per MoE layer (HF num_local_experts / n_routed_experts); "
                   "0 = dense",
    "num_experts_per_tok": "k: experts each token is routed to (top-k)",
    "moe_intermediate_size": "f_e: FFN width of one routed expert",
    "moe_layers": "which layers are MoE: 'all', 'K-end', or indices like 0-31 / 1,3,5",
    "num_shared_experts": "shared experts every token uses (DeepSeek, Qwen-MoE)",
    "shared_expert_intermediate_size": "total width of the shared-expert MLP",
    "shared_expert_gate": "sigmoid gate Linear(h, 1) on the shared expert (qwen2_moe)",
    "router_bias": "bias on the router Linear(h, E)",
    "expert_bias": "biases inside each expert (gpt-oss)",
    "moe_output_bias": "one bias after the expert mix (JetMoE)",
    "router_score_correction_bias": "DeepSeek-V3 e_score_correction_bias buffer (in checkpoints)",
    "num_hidden_layers": "L: transformer blocks",
    "hidden_size": "h: model width",
    "vocab_size": "V: vocabulary size",
    "intermediate_size": "f: FFN width of dense layers (0 if every layer is MoE)",
    "gated_ffn": "SwiGLU/GeGLU (3 matrices) rather than a plain MLP (2)",
    "ffn_bias": "biases in the dense MLP",
    "tie_word_embeddings": "LM head shares the input-embedding matrix",
    "norm_type": "RMSNorm or LayerNorm",
    "norm_bias": "LayerNorm with a bias vector (PhiMoE)",
    "norm_weight": "norms have a learnable weight (off: OLMo-1's parameter-free LayerNorm)",
    "lm_head_bias": "bias on the LM head (PhiMoE)",
    "output_vocab_size": "rows of a pruned LM head, a prefix of the vocabulary (Apertus-1.5); "
                         "0 = vocab_size",
    "max_position_embeddings": "longest context the model was trained for (charts stop here)",
    "num_mtp_layers": "multi-token-prediction modules (DeepSeek-V3), outside the main model",
    "position_embeddings": "learned absolute position embeddings (GPT-2's wpe rows; 0 = none, "
                           "e.g. RoPE)",
    "vision_params": "parameters of a multimodal model's vision encoder and projector, counted "
                     "apart from the language model (0 = text-only)",
    "num_attention_heads": "a: query heads",
    "num_key_value_heads": "g: key/value heads (GQA; = a for MHA, 1 for MQA)",
    "head_dim": "d: per-head width (0 = hidden_size / num_attention_heads)",
    "attention_bias": "biases on the q/k/v projections",
    "attention_out_bias": "bias on the output projection",
    "fused_qkv": "one Wqkv matrix (DBRX); same parameter count",
    "qk_norm": "RMSNorm on queries and keys: per head ('head') or over all heads ('full')",
    "attention_sinks": "one learned logit per query head (gpt-oss)",
    "sliding_window": "window size of sliding-window layers (empty = none)",
    "sliding_window_layers": "which layers use the window: 'all', indices, or empty",
    "mla": "multi-head latent attention (DeepSeek-V2/V3)",
    "moa": "mixture of attention heads (JetMoE)",
    "attention_output_gate": "q_proj also emits a sigmoid output gate (Qwen3-Next)",
    "attention_head_gate": "a sigmoid gate per head, g_proj h → heads, on the attention output "
                           "(Ling 3.0's MLA, LFM3)",
    "mixer": "a non-attention sequence mixer (kind: " + ", ".join(MIXER_KINDS) + ")",
    "mixer_layers": "layers that run the mixer instead of attention: indices, 'all' or empty",
    "parallel_mixer": "mixer layers run attention and the mixer in parallel (Falcon-H1)",
    "mixerless_layers": "layers with an FFN only, no sequence mixer (Nemotron-H '-'/'E')",
    "ffnless_layers": "layers with a sequence mixer only, no FFN (Nemotron-H 'M'/'*')",
    "name": "a short name for exports",
    "model_type": "the Hugging Face family it was read as ('custom' when hand-made)",
}
_CHOICES = {"norm_type": ("rmsnorm", "layernorm"), "qk_norm": ("none", "head", "full")}
_BLOCK_DEFAULTS = {  # shown when a user switches MLA / MoA on for a model that has none
    "mla": MLA(q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
               v_head_dim=128),  # DeepSeek-V3's config.json
    "moa": MoA(num_experts=8, top_k=2),  # JetMoE-8B's config.json
    # transformers' BambaConfig defaults (Mamba-2, 128 heads of 64, d_state 256)
    "mixer": Mixer(kind="mamba2", num_heads=128, head_dim=64, num_k_heads=1, state_size=256,
                   conv_kernel=4, conv_bias=True, gated_norm=True),
}
_BLOCKS = tuple(_BLOCK_DEFAULTS)
OPTION_GROUPS = (("workload", "Workload", True), ("parallel", "GPUs and parallelism", True),
                 ("inference", "Inference", False), ("training", "Training", False),
                 ("cost", "Cost", False), ("serving", "Serving", False))
_FLOAT_FMT = {"train_tokens": "%.3e", "mfu": "%.2f", "mbu": "%.2f",
              "capacity_factor": "%.2f", "price_per_gpu_hour": "%.2f"}
_FLOAT_STEP = {"train_tokens": 1e11, "mfu": 0.05, "mbu": 0.05, "capacity_factor": 0.25,
               "price_per_gpu_hour": 0.25}


# ----------------------------------------------------------------------------------------------
# cached loaders (the only expensive things: reading 20+ YAML files)
# ----------------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False)
def preset_names() -> dict[str, str]:
    """slug → display name, for the picker."""
    out = {}
    for slug in estimator.list_presets():
        try:
            out[slug] = load_model(slug).display_name
        except EstimatorError as e:  # a broken preset file must not take the app down
            LOG.warning("preset %s unreadable: %s", slug, e)
    return out


@st.cache_data(show_spinner=False)
def gpu_names() -> dict[str, str]:
    """GPU id → "name · memory GiB", for the picker."""
    return {g.id: f"{g.name} · {fmt.gib(g.memory_bytes, 0)}" for g in load_catalog().values()}


# ----------------------------------------------------------------------------------------------
# first run: the shared link seeds the widgets
# ----------------------------------------------------------------------------------------------

def _seed_from_link(presets: list[str]) -> list[str]:
    params = st.query_params.to_dict()
    state, messages = decode(params, presets)
    ss = st.session_state
    ss["opt_seed"] = dict(state.options)
    if state.model == CUSTOM:
        try:
            spec = apply_arch(None, state.arch)
            ss["_custom"] = Model(spec=spec, display_name=spec.name, origin="shared link")
            ss["_custom_id"] = "link"
            ss["src"] = SRC_CONFIG
        except EstimatorError as e:
            messages.append(f"the link's custom model is invalid ({e}); showing "
                            f"{DEFAULT_PRESET}")
            ss["src"], ss["preset"] = SRC_PRESET, DEFAULT_PRESET
    else:
        ss["src"], ss["preset"] = SRC_PRESET, state.model
        ss["arch_seed"] = dict(state.arch)
    return messages


# ----------------------------------------------------------------------------------------------
# model source
# ----------------------------------------------------------------------------------------------

def _load_config_text(text: str, name: str) -> Model:
    try:
        d = parse_text(text, name)
        stem = name.rsplit(".", 1)[0] or "custom"
        hf_name = d.get("_name_or_path") if isinstance(d, dict) else None
        if isinstance(hf_name, str) and hf_name.strip("/"):  # "org/model" in HF configs
            stem = hf_name.strip("/").rsplit("/", 1)[-1][:64]
        elif stem == "config":
            stem = "custom"
        return model_from_dict(d, origin=f"upload:{name}", default_name=stem)
    except EstimatorError:
        raise
    except Exception as e:  # an importer bug on odd input: log it, show one line
        LOG.exception("config %s could not be read", name)
        raise EstimatorError(name, type(e).__name__, "could not read this config") from None


def _config_source(errors: list[str]) -> tuple[Model | None, str]:
    ss = st.session_state
    how = st.radio("How", ("Upload", "Paste"), horizontal=True, key="cfg_how",
                   label_visibility="collapsed")
    text, name = None, "config.json"
    if how == "Upload":
        f = st.file_uploader("config.json (Hugging Face) or a preset YAML",
                             type=["json", "yaml", "yml"], key="cfg_upload",
                             max_upload_size=UPLOAD_LIMIT_MB,
                             help="Parsed safely (JSON / safe YAML); nothing is executed.")
        if f is None and ss.get("_custom_src") == "upload":
            # the uploaded file was removed, or the browser refused a new one: never keep
            # showing the previous model as if it were what the uploader holds
            ss.pop("_custom", None)
            ss.pop("_custom_id", None)
            ss.pop("_custom_src", None)
        if f is not None:
            name = "".join(c for c in f.name if c.isalnum() or c in "._-")[:64] or name
            if f.size > MAX_FILE_BYTES:
                errors.append(f"{name}: too large ({f.size:,} bytes; limit "
                              f"{MAX_FILE_BYTES // 1024} KiB): not loaded")
                ss.pop("_custom", None)
                ss.pop("_custom_id", None)
                return None, ""
            try:  # UTF-8, or UTF-8/16/32 with a byte-order mark (estimator.presets)
                text = decode_text(f.getvalue(), name)
            except EstimatorError as e:
                errors.append(str(e))
                return None, ""
    else:
        text = st.text_area("Paste a config.json", key="cfg_paste", height=140,
                            max_chars=MAX_FILE_BYTES,
                            placeholder='{"model_type": "mixtral", "hidden_size": 4096, ...}')
        if text is not None and not text.strip():
            text = None
    if text is not None:
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        if ss.get("_custom_id") != digest:
            try:
                ss["_custom"] = _load_config_text(text, name)
                ss["_custom_id"] = digest
                ss["_custom_src"] = "upload" if how == "Upload" else "paste"
                ss.pop("_custom_error", None)
            except EstimatorError as e:
                ss["_custom_error"] = (digest, str(e))
        err = ss.get("_custom_error")
        if err and err[0] == digest:
            errors.append(err[1])
            st.error(md(err[1]), icon=":material/error:")
            return None, ""
    model = ss.get("_custom")
    if model is None:
        st.caption("Upload or paste a config.json to estimate it.")
        return None, ""
    return model, f"custom:{ss.get('_custom_id')}"


# ----------------------------------------------------------------------------------------------
# architecture editor
# ----------------------------------------------------------------------------------------------

def _layers_text(idx: tuple[int, ...], L: int) -> str:
    if idx and idx == tuple(range(L)):
        return "all"
    if idx and idx == tuple(range(idx[0], L)) and idx[0] > 0:
        return f"{idx[0]}-end"
    return format_layers(idx)


def _parse_layers_text(name: str, text: str, L: int) -> tuple[int, ...]:
    t = text.strip().lower()
    if t == "all":
        return tuple(range(L))
    if t.endswith("-end"):
        t = t[:-4] + f"-{L - 1}"
    try:
        return parse_layers(t)
    except ValueError:
        raise EstimatorError(name, text, "expected 'all', 'K-end' or layer indices like "
                                         "0-31 or 1,3,5") from None


def _widget_value(name: str, value: Any, L: int) -> Any:
    kind = SPEC_KINDS[name]
    if kind == "layers":
        return _layers_text(value, L)
    return value


def _arch_widget(name: str, key: str, kind: str) -> None:
    label, help_ = name, FIELD_HELP.get(name)
    if kind == "bool":
        st.checkbox(label, key=key, help=help_)
    elif kind == "int":
        st.number_input(label, min_value=0, step=1, key=key, help=help_)
    elif kind == "int?":
        st.number_input(label, min_value=1, step=1, key=key, help=help_, placeholder="none")
    elif kind == "layers":
        st.text_input(label, key=key, help=help_)
    elif name in _CHOICES:
        st.selectbox(label, _CHOICES[name], key=key, help=help_)
    else:
        st.text_input(label, key=key, help=help_, max_chars=120)


def _edit_architecture(base: ModelSpec, prefix: str, seed: dict[str, Any],
                       errors: list[str]) -> ModelSpec | None:
    """Widgets for every spec field; returns the edited, validated spec (None if invalid)."""
    ss = st.session_state
    current = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    seeded = dict(current)
    seeded.update({k: v for k, v in seed.items() if k in current and k not in _BLOCKS})
    L0 = seeded["num_hidden_layers"] if isinstance(seeded["num_hidden_layers"], int) else 1
    for name in current:
        if name == "notes" or SPEC_KINDS[name] == "block":
            continue
        key = f"{prefix}{name}"
        if key not in ss:
            ss[key] = _widget_value(name, seeded[name], L0)
    for blk in _BLOCKS:
        cur = current[blk]
        seed_blk = seed.get(blk, "unset")
        on = cur is not None if seed_blk == "unset" else seed_blk is not None
        if f"{prefix}{blk}" not in ss:
            ss[f"{prefix}{blk}"] = on
        vals = dataclasses.asdict(cur if cur is not None else _BLOCK_DEFAULTS[blk])
        if isinstance(seed_blk, dict):
            vals.update(seed_blk)
        for sub, v in vals.items():
            if f"{prefix}{blk}.{sub}" not in ss:  # layer lists (MLA.indexer_layers) as text
                ss[f"{prefix}{blk}.{sub}"] = (_layers_text(tuple(v), L0)
                                              if BLOCK_KINDS[blk][sub] == "layers" else v)

    with st.expander("Architecture (edit any field)", icon=":material/tune:"):
        st.caption("Field names follow Hugging Face configs. Edits are validated; the share "
                   "link records them.")
        tabs = st.tabs(list(ARCH_GROUPS))
        for tab, (_, names) in zip(tabs, ARCH_GROUPS.items()):
            with tab:
                for name in names:
                    kind = SPEC_KINDS[name]
                    if kind == "block":
                        st.checkbox(f"{name} ({FIELD_HELP[name]})", key=f"{prefix}{name}")
                        if ss[f"{prefix}{name}"]:
                            for sub, sk in BLOCK_KINDS[name].items():
                                _arch_widget(f"{name}.{sub}", f"{prefix}{name}.{sub}", sk)
                    else:
                        _arch_widget(name, f"{prefix}{name}", kind)
        if base.notes:
            st.caption("Importer notes: " + " · ".join(md(n) for n in base.notes))
        if st.button("Reset to the unedited model", key=f"{prefix}reset",
                     icon=":material/restart_alt:"):
            for k in [k for k in ss if str(k).startswith(prefix)]:
                del ss[k]
            ss.pop("arch_seed", None)
            st.rerun()

    # collect the values and build the edited spec
    try:
        L_val = ss[f"{prefix}num_hidden_layers"]
        L = L_val if isinstance(L_val, int) and L_val > 0 else base.num_hidden_layers
        values: dict[str, Any] = {}
        for name in current:
            if name == "notes":
                continue
            kind = SPEC_KINDS[name]
            key = f"{prefix}{name}"
            if kind == "block":
                if ss[key]:
                    values[name] = {
                        sub: (_parse_layers_text(f"{name}.{sub}", ss[f"{key}.{sub}"], L)
                              if sk == "layers" else ss[f"{key}.{sub}"])
                        for sub, sk in BLOCK_KINDS[name].items()}
                else:
                    values[name] = None
            elif kind == "layers":
                values[name] = _parse_layers_text(name, ss[key], L)
            elif kind == "int" and ss[key] is None:
                raise EstimatorError(name, None, "needs a value")
            else:
                values[name] = ss[key]
        for blk in _BLOCKS:
            for sub, x in (values[blk] or {}).items():
                if x is None and BLOCK_KINDS[blk][sub] == "int":
                    raise EstimatorError(f"{blk}.{sub}", None, "needs a value")
        as_dicts = {k: dataclasses.asdict(v) if isinstance(v, (MLA, MoA, Mixer)) else v
                    for k, v in current.items()}
        changes = {k: v for k, v in values.items() if as_dicts.get(k) != v}
        return apply_arch(base, changes)
    except EstimatorError as e:
        errors.append(f"Architecture: {e}")
        st.error(md(e), icon=":material/error:")
        return None


# ----------------------------------------------------------------------------------------------
# workload options (generated from OPTION_FIELDS metadata)
# ----------------------------------------------------------------------------------------------

def _option_widget(name: str, f: dataclasses.Field, gpus: dict[str, str]) -> None:
    md = f.metadata
    key = f"opt:{name}"
    help_ = md["help"]
    kind = md["kind"]
    label = name
    if name == "gpu":
        if st.session_state.get(key) not in gpus:
            unknown = st.session_state.get(key)
            st.session_state[key] = f.default if f.default in gpus else next(iter(gpus))
            if unknown is not None:  # from a share link: say so instead of silently switching
                st.warning(f"gpu={plain(str(unknown)[:60])} is not in the GPU catalog; showing "
                           f"{plain(gpus[st.session_state[key]])} instead.",
                           icon=":material/warning:")
        st.selectbox(label, list(gpus), key=key, help=help_, format_func=gpus.get)
    elif md["choices"] is not None:
        st.selectbox(label, list(md["choices"]), key=key, help=help_)
    elif kind is bool:
        st.toggle(label, key=key, help=help_)
    elif kind is int:
        st.number_input(label, min_value=int(md["minimum"]) if md["minimum"] is not None
                        else None, max_value=int(md["maximum"]) if md["maximum"] is not None
                        else None, step=1, key=key, help=help_)
    elif kind is float:
        st.number_input(label, min_value=float(md["minimum"]) if md["minimum"] is not None
                        else None, max_value=float(md["maximum"]) if md["maximum"] is not None
                        else None, step=_FLOAT_STEP.get(name, 0.1),
                        format=_FLOAT_FMT.get(name, "%g"), key=key, help=help_)
    else:
        st.text_input(label, key=key, help=help_)


def _options(errors: list[str]) -> tuple[dict[str, Any], Any]:
    ss = st.session_state
    seed = ss.pop("opt_seed", {})
    gpus = gpu_names()
    for name, f in OPTION_FIELDS.items():
        key = f"opt:{name}"
        if key not in ss:
            v = seed.get(name, f.default)
            if f.metadata["kind"] is float:
                v = float(v)
            ss[key] = v
    for group, title, expanded in OPTION_GROUPS:
        names = [n for n, f in OPTION_FIELDS.items() if f.metadata["group"] == group]
        if not names:
            continue
        with st.expander(title, expanded=expanded):
            for name in names:
                _option_widget(name, OPTION_FIELDS[name], gpus)
    extra = [n for n, f in OPTION_FIELDS.items()
             if f.metadata["group"] not in {g for g, _, _ in OPTION_GROUPS}]
    if extra:
        with st.expander("More options"):
            for name in extra:
                _option_widget(name, OPTION_FIELDS[name], gpus)
    overrides = {n: ss[f"opt:{n}"] for n, f in OPTION_FIELDS.items()
                 if ss[f"opt:{n}"] != f.default}
    try:
        return overrides, make_options(**overrides)
    except EstimatorError as e:
        errors.append(f"Options: {e}")
        st.error(md(e), icon=":material/error:")
        return overrides, None


# ----------------------------------------------------------------------------------------------
# the whole sidebar
# ----------------------------------------------------------------------------------------------

def _keep_source() -> None:
    ss = st.session_state
    if ss.get("src") not in (SRC_PRESET, SRC_CONFIG):
        ss["src"] = ss.get("_src_last", SRC_PRESET)


def render() -> Context:
    ss = st.session_state
    ctx = Context()
    names = preset_names()
    presets = list(names)
    if "_seeded" not in ss:
        ctx.messages = _seed_from_link(presets)
        ss["_seeded"] = True
        ss["_link_messages"] = ctx.messages
    else:
        ctx.messages = ss.get("_link_messages", [])
    if ss.get("preset") not in names:
        ss["preset"] = DEFAULT_PRESET if DEFAULT_PRESET in names else presets[0]

    with st.sidebar:
        if ss.get("src") not in (SRC_PRESET, SRC_CONFIG):  # before the widget exists
            ss["src"] = ss.get("_src_last", SRC_PRESET)
        # Clicking the selected segment deselects it (value None): the callback, which runs
        # before the script, puts the last source back. Assigning the key after the widget
        # is drawn raised StreamlitWidgetAlreadyInstantiatedError.
        st.segmented_control("Model source", (SRC_PRESET, SRC_CONFIG), key="src",
                             label_visibility="collapsed", on_change=_keep_source)
        ss["_src_last"] = ss["src"]
        if ss["src"] == SRC_PRESET:
            slug = st.selectbox("Model", presets, key="preset", format_func=names.get,
                                help="Presets: configs/models/<slug>.yaml (config.json "
                                     "verbatim, with the publisher's figures)")
            try:
                base: Model | None = load_model(slug)
            except EstimatorError as e:
                ctx.errors.append(str(e))
                base = None
            base_key = f"preset:{slug}"
        else:
            base, base_key = _config_source(ctx.errors)
        ctx.base = base

        seed = ss.pop("arch_seed", {}) if base is not None else {}
        edited = None
        if base is not None:
            prefix = f"arch:{base_key}:"
            edited = _edit_architecture(base.spec, prefix, seed, ctx.errors)
        overrides, opts = _options(ctx.errors)

    ctx.opts = opts
    if base is None or edited is None or opts is None:
        return ctx
    edits = diff_fields(base.spec, edited)
    ctx.edits = edits
    model = base if not edits else Model(
        spec=edited, display_name=f"{base.display_name} (edited)",
        origin=f"{base.origin} (edited)", source=base.source, published={}, hf_config=None)
    ctx.model = model
    try:
        ctx.report = estimator.estimate(model, options=opts)
    except EstimatorError as e:
        ctx.errors.append(str(e))
        return ctx
    if base.origin.startswith("preset:"):
        ctx.state = State(model=base.origin.split(":", 1)[1], arch=edits, options=overrides)
    else:
        ctx.state = State(model=CUSTOM, arch=custom_fields(edited), options=overrides)
    _sync_url(ctx.state)
    return ctx


def _sync_url(state: State) -> None:
    qp = encode(state)
    if st.query_params.to_dict() != qp:
        st.query_params.from_dict(qp)

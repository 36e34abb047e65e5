"""Budgets on what one input may ask for, checked before any work starts.

The same numbers bound the CLI, the Python API and the app (share links, uploads, pastes), so a
hostile or careless input is refused with an :class:`~estimator.errors.EstimatorError` naming
the field, never by running out of time or memory. Each limit is far above any real model
(the largest published configs have ~128 layers, 384 routed experts, 128 query heads and
config files of a few KB) and small enough that the work it allows takes well under a second
and a few MB on one core.
"""

from __future__ import annotations

# --- files and parsed documents -----------------------------------------------------------------
MAX_FILE_BYTES = 2 * 1024 * 1024  # config.json files are a few KB
MAX_NODES = 200_000  # values in one parsed document, YAML aliases expanded (billion laughs)
MAX_DEPTH = 64  # nesting of one parsed document (a config.json nests 3 deep)
MAX_NUMBER_CHARS = 64  # characters of one number literal ("1" followed by 5000 digits)
MAX_STRING_CHARS = 10_000  # one string value inside a config
MAX_LIST_LEN = 100_000  # one list inside a config (per-layer lists have L entries)

# --- the architecture ---------------------------------------------------------------------------
MAX_LAYERS = 10_000  # num_hidden_layers; also bounds every per-layer list (moe_layers, ...)
MAX_EXPERTS = 1_048_576  # routed experts per layer (PEER, arXiv 2407.04153, uses 1024²)
MAX_HEADS = 65_536  # query or key/value heads
MAX_NOTES = 100  # importer notes carried by a spec

#: Per-field maxima, by the field's last dotted name (estimator and Hugging Face spellings);
#: every other integer size is bounded by :data:`estimator.spec.MAX_DIM`.
FIELD_MAXIMA: dict[str, int] = {
    **dict.fromkeys(("num_hidden_layers", "n_layers", "num_layers", "num_mtp_layers",
                     "num_nextn_predict_layers"), MAX_LAYERS),
    **dict.fromkeys(("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts",
                     "num_experts_per_tok", "experts_per_token", "moe_top_k", "top_k",
                     "num_shared_experts", "n_shared_experts"), MAX_EXPERTS),
    **dict.fromkeys(("num_attention_heads", "n_heads", "num_key_value_heads", "kv_n_heads"),
                    MAX_HEADS),
}

# --- links, sweeps --------------------------------------------------------------------------------
MAX_LINK_PARAMS = 400  # query parameters in one share link
MAX_LINK_VALUE_CHARS = 2000  # characters of one link value
MAX_SWEEP_POINTS = 100_000  # grid points of one sweep (measured: 10.3 s, 100 MB on one core)
MAX_SWEEP_VALUES = 10_000  # values of one swept field
MAX_ARRAY_SWEEP_POINTS = 4_000_000  # grid points of one streamed column sweep (sweep.columns)


def maximum_for(name: str, default: int) -> int:
    """The maximum of the integer field ``name`` (``text_config.n_layers`` reads ``n_layers``)."""
    return FIELD_MAXIMA.get(name.rsplit(".", 1)[-1], default)

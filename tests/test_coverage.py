"""Every decoder-only causal-LM family of the installed transformers is accounted for.

Walks transformers' own causal-LM mapping (``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``): each
``model_type`` must either load (``estimator.hf.SUPPORTED_MODEL_TYPES``) or be listed in
``estimator.coverage.NOT_SUPPORTED_YET`` with a reason. A new transformers release that adds a
family fails here until it is classified; a family that becomes supported must leave the table.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES  # noqa: E402
from transformers.models.auto.modeling_auto import (  # noqa: E402
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
)

from estimator.coverage import NOT_SUPPORTED_YET, REASONS, why_not  # noqa: E402
from estimator.hf import SUPPORTED_MODEL_TYPES  # noqa: E402

CAUSAL_LM = sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


@pytest.mark.parametrize("model_type", CAUSAL_LM)
def test_every_causal_lm_family_is_supported_or_listed(model_type):
    supported = model_type in SUPPORTED_MODEL_TYPES
    listed = model_type in NOT_SUPPORTED_YET
    assert supported or listed, (
        f"{model_type} ({MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]}) is neither supported "
        "nor in estimator.coverage.NOT_SUPPORTED_YET: classify it")
    assert not (supported and listed), f"{model_type} is supported: drop it from the table"


def test_table_has_no_stale_entries():
    stale = sorted(set(NOT_SUPPORTED_YET) - set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES))
    assert not stale, stale
    assert set(NOT_SUPPORTED_YET.values()) <= set(REASONS)


def test_supported_families_are_transformers_families():
    """Every supported model_type is a configuration class of transformers (the oracle)."""
    assert set(SUPPORTED_MODEL_TYPES) <= set(CONFIG_MAPPING_NAMES)


def test_hybrids_and_encoders_say_why():
    assert "README's Hybrids section" in why_not("qwen4_exp")
    assert why_not("recurrent_gemma") is None
    assert why_not("bailing_hybrid") is None and why_not("lfm3") is None
    assert why_not("qwen3_next") is None  # loads since issue #13
    assert why_not("zamba2") is None
    assert "out of scope" in why_not("bart")
    assert why_not("llama") is None


def test_architectures_table_matches_transformers():
    """``ARCHITECTURES`` names each supported family's own transformers class."""
    from estimator.hf import ARCHITECTURES, FAMILIES, SHARED_CLASS

    for mt in FAMILIES:
        cls = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[mt]
        # config classes over another family's model (sarvam_moe → Glm4MoeForCausalLM)
        assert ARCHITECTURES.get(cls) == SHARED_CLASS.get(mt, mt), (mt, cls)
    assert ARCHITECTURES["Llama4ForConditionalGeneration"] == "llama4"
    assert set(ARCHITECTURES.values()) | set(SHARED_CLASS) == set(SUPPORTED_MODEL_TYPES)

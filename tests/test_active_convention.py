"""The ``active_convention`` option and each family's publisher convention.

* Every entry of :data:`estimator.params.PUBLISHER_CONVENTIONS` is established by a model card:
  its ``card`` preset's published active figure fits that convention and no other at the card's
  precision (rounded to the last stated digit, or — where no convention rounds to it — truncated),
  and the preset declares the same convention.
* The default report's ``params.active`` reproduces the cards' own figures (publisher
  convention); an explicit convention is followed; families without a card fall back to
  ``with_embedding`` and say so; the Markdown report names the convention.
"""

from __future__ import annotations

import pytest
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)

import estimator
from estimator import formats
from estimator.params import (
    ACTIVE_CONVENTIONS,
    PUBLISHER_CONVENTIONS,
    active_convention_of,
    count_params,
)
from estimator.presets import list_presets, load_model

BILLION = 10**9


def _unit(published: int) -> int:
    """The unit of a card's last stated digit (figures in billions: 12.9B → 0.1B)."""
    unit = BILLION
    while published % unit:
        unit //= 10
    return unit


def _fits(exact: int, published: int, rule: str) -> bool:
    if rule == "rounded":
        return 2 * abs(exact - published) <= _unit(published)
    return published <= exact < published + _unit(published)  # truncated


@pytest.mark.parametrize("family", sorted(PUBLISHER_CONVENTIONS))
def test_publisher_convention_is_the_only_one_the_card_fits(family):
    pc = PUBLISHER_CONVENTIONS[family]
    assert pc.card in list_presets()
    m = load_model(pc.card)
    assert family in (m.spec.model_type, m.hf_config.get("text_config", {}).get("model_type"))
    assert m.published["convention"] == pc.convention
    published = m.published["active_params"]
    by_conv = count_params(m.spec).active_by_convention
    rule = "rounded" if any(_fits(v, published, "rounded") for v in by_conv.values()) \
        else "truncated"
    fitting = [c for c, v in by_conv.items() if _fits(v, published, rule)]
    assert fitting == [pc.convention], (family, rule, by_conv, published)


@pytest.mark.parametrize("slug", list_presets())
def test_presets_agree_with_the_publisher_table(slug):
    """A preset that declares a convention never contradicts its family's entry."""
    m = load_model(slug)
    conv = m.published.get("convention")
    pc = PUBLISHER_CONVENTIONS.get(m.spec.model_type)
    if pc is not None and m.published.get("active_params") and conv != "unknown":
        assert conv == pc.convention, slug


@pytest.mark.parametrize("slug", ["mixtral-8x7b", "gpt-oss-120b", "glm-4.5", "deepseek-v3",
                                  "qwen3-235b-a22b", "phi-3.5-moe", "llama-4-maverick"])
def test_default_report_reproduces_the_card(slug):
    """params.active of a default report rounds to the card's own active figure."""
    m = load_model(slug)
    d = single_gpu.estimate(m).to_dict()["params"]
    assert _fits(d["active"], m.published["active_params"], "rounded"), (slug, d["active"])
    assert d["active_convention"] == m.published["convention"]
    assert d["active_convention_source"].startswith("publisher: ")


@pytest.mark.parametrize("conv", list(ACTIVE_CONVENTIONS))
def test_explicit_convention_is_followed(conv):
    r = single_gpu.estimate("deepseek-v3", active_convention=conv)
    d = r.to_dict()
    assert d["params"]["active_convention"] == conv
    assert d["params"]["active"] == d["params"]["active_by_convention"][conv]
    assert r.headline()["active_params"] == d["params"]["active"]  # sweep rows too
    assert d["conventions"]["active_params"].startswith(conv)


def test_the_three_conventions_stay_side_by_side():
    """Whatever the option, active_by_convention holds all three, unchanged."""
    a = single_gpu.estimate("glm-4.5").to_dict()["params"]["active_by_convention"]
    b = single_gpu.estimate("glm-4.5", active_convention="with_embedding").to_dict()
    assert a == b["params"]["active_by_convention"]
    assert set(a) == set(ACTIVE_CONVENTIONS)


def test_family_without_a_card_falls_back_and_says_so():
    conv, why = active_convention_of("publisher", "dbrx")  # DBRX's 36B fits two conventions
    assert conv == "with_embedding"
    assert "no model card figure" in why
    d = single_gpu.estimate("dbrx").to_dict()
    assert d["params"]["active_convention"] == "with_embedding"
    assert "no model card figure" in d["params"]["active_convention_source"]


def test_unknown_convention_is_an_error():
    with pytest.raises(estimator.EstimatorError, match="active_convention"):
        single_gpu.estimate("mixtral-8x7b", active_convention="all")


def test_markdown_names_the_convention():
    md = formats.render(single_gpu.estimate("gpt-oss-120b"), "md")
    assert "active per token (without embedding: params.active)" in md
    assert "given in the `without_embedding` convention: publisher: OpenAI" in md

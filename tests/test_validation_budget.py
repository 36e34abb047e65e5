"""The validation budget (issue 10): the Validate page and ``validate`` estimate, with the
estimator itself, the memory and time of the model they would build, and refuse above a budget
safe on a 2-core, 24 GiB machine — before anything is allocated."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import estimator
from estimator.errors import EstimatorError
from estimator.validation import budget

TINY = estimator.ModelSpec(name="tiny", model_type="custom", num_hidden_layers=2, hidden_size=64,
                           vocab_size=256, num_attention_heads=4, num_key_value_heads=4,
                           intermediate_size=128)


@pytest.mark.parametrize("slug", estimator.list_presets())
def test_every_preset_is_within_the_budget(slug):
    spec = estimator.load_model(slug).spec
    if spec.is_hybrid or (spec.mla is not None and spec.mla.index_n_heads):  # refused, saying why
        why = "hybrid" if spec.is_hybrid else "Sparse Attention"
        with pytest.raises(estimator.EstimatorError, match=why):
            budget.plan(spec)
        with pytest.raises(estimator.EstimatorError, match=why):
            budget.planned(estimator.load_model(slug), shrink=True)
        return
    p = budget.plan(estimator.load_model(slug).spec)  # the page: quick, as a spec
    assert p["bytes"] <= budget.MEMORY_BUDGET_BYTES and p["seconds"] <= budget.TIME_BUDGET_S
    spec, hf = budget.planned(estimator.load_model(slug), shrink=True)  # `validate`: full run
    budget.check(spec, budget.FULL, 2 if hf else 1)


@pytest.mark.parametrize("changes, why", [
    # small in parameters, huge in what it allocates: a·s² attention scores of 65,536 heads
    (dict(num_attention_heads=65536, num_key_value_heads=65536, head_dim=1, hidden_size=16),
     "GiB .budget 4 GiB.: 2 layers, 0 expert modules, 65,536 heads"),
    # one Python module per expert: 2 × 30,000 experts run for minutes
    (dict(num_experts=30_000, num_experts_per_tok=1, moe_intermediate_size=1,
          moe_layers=(0, 1)), "s .budget 60 s.: 2 layers, 60,000 expert modules"),
    (dict(num_hidden_layers=5000, hidden_size=8, num_attention_heads=2,
          num_key_value_heads=2, intermediate_size=8), "s .budget 60 s.: 5,000 layers"),
])
def test_costly_models_are_refused_naming_what_is_too_large(changes, why):
    spec = TINY.replace(**changes)
    assert estimator.count_params(spec).total <= 20_000_000  # the old cap let them through
    with pytest.raises(EstimatorError, match=why):
        budget.plan(spec)


def test_validate_refuses_before_building(monkeypatch):
    pytest.importorskip("torch")
    from estimator.validation import compare

    built = []
    monkeypatch.setattr(compare, "validate_reference", lambda *a, **k: built.append(a))
    spec = TINY.replace(num_experts=30_000, num_experts_per_tok=1, moe_intermediate_size=1,
                        moe_layers=(0, 1))
    t0 = time.perf_counter()
    with pytest.raises(EstimatorError, match="expert modules"):
        compare.validate_spec(spec)
    assert not built and time.perf_counter() - t0 < 5


def test_validate_cli_refuses_a_full_size_model(capsys):
    pytest.importorskip("torch")
    from estimator import cli

    code = cli.main(["validate", "--models", "llama-3-8b", "--no-shrink", "--max-params",
                     str(10**12), "--implementations", "reference"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "GiB" in err[0], err


def test_validate_page_says_why_it_is_not_available():
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from ui.text import unescape

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"),
                           default_timeout=60)
    at.query_params.update({"a.num_experts": "100000"})
    at.run()
    at.switch_page("ui/pages/validate.py").run()
    assert not at.exception and not at.error
    said = " ".join(unescape(i.value) for i in at.info)
    assert "not available because" in said and "expert modules" in said
    assert not [b for b in at.button if b.key == "val_run"]

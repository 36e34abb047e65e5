"""The checkpoint's own weight format (estimator.ckpt_quant, dtype="auto") against published
checkpoint sizes and the tensors transformers' own quantized layers create."""

import pytest

import estimator
from estimator import ckpt_quant, quant
from estimator.errors import EstimatorError

GIB = 2**30


def _ckpt(name):
    d = estimator.estimate(name, dtype="auto").to_dict(compare=False)
    return d, d["checkpoint_quantization"]


def test_gpt_oss_120b_checkpoint_is_the_model_card_size():
    """gpt-oss model card (arXiv 2508.10925) Table 1: the 120b checkpoint is 60.8 GiB (MXFP4
    experts with E8M0 scales per 32, everything else bf16); dtype=auto reads it from
    quantization_config (quant_method mxfp4, modules_to_not_convert: self_attn, router,
    embed_tokens, lm_head)."""
    d, cq = _ckpt("gpt-oss-120b")
    assert d["options"]["dtype"] == "mxfp4"
    assert cq["method"] == "mxfp4" and cq["experts_only"]
    assert abs(cq["weight_bytes_total"] / GIB - 60.8) < 0.05 + 1e-9
    w = d["conventions"]["weight_format"]
    assert "auto" in w and "mxfp4" in w


def test_deepseek_v3_checkpoint_with_mtp_is_the_hub_total():
    """deepseek-ai/DeepSeek-V3 on the Hub: 688.6 GB of safetensors (FP8 E4M3 with fp32
    weight_scale_inv per 128x128 block; embeddings, head, norms, router bf16). The checkpoint
    also holds the MTP module (layer 61, the model card's 14B): one more MoE layer, eh_proj
    (2h -> h), three norms and its own embedding and head copies, added here from the same
    per-layer bytes."""
    d, cq = _ckpt("deepseek-v3")
    assert d["options"]["dtype"] == "fp8" and cq["weight_format"] == "fp8-block128"
    s = estimator.load_model("deepseek-v3").spec
    b, L, n_moe = cq["weight_bytes"], s.num_hidden_layers, s.num_moe_layers
    h, V = s.hidden_size, s.vocab_size
    moe_layer = ((b["attention"] + b["norms"] - 2 * h) / L
                 + (b["routed_experts"] + b["shared_experts"] + b["router"] + b["other"]) / n_moe)
    mtp = moe_layer + quant.tensor_bytes(2 * h * h, "fp8-block128") + 3 * h * 2 + 2 * V * h * 2
    assert abs((cq["weight_bytes_total"] + mtp) / 688.6e9 - 1) < 0.001
    # the block scales are what the plain fp8 of the memory model leaves out: 4 bytes / 128²
    assert 0 < cq["weight_bytes_total"] - cq["dtype_used_weight_bytes_total"] < 4 / 128**2 * 688.6e9


def test_fp8_block_bytes_are_transformers_fp8linear():
    """transformers integrations/finegrained_fp8.py::FP8Linear(block_size=(128, 128)) creates
    ``weight`` float8_e4m3fn and ``weight_scale_inv`` fp32 [⌈out/128⌉, ⌈in/128⌉]; its bytes on
    the meta device equal quant.tensor_bytes(fp8-block128) for DeepSeek-V3's matrices."""
    torch = pytest.importorskip("torch")
    fp8 = pytest.importorskip("transformers.integrations.finegrained_fp8")
    for i, o in ((7168, 2048), (2048, 7168), (7168, 18432), (7168, 1536), (16384, 7168)):
        with torch.device("meta"):
            lin = fp8.FP8Linear(i, o, block_size=(128, 128))
        got = sum(p.numel() * p.element_size() for p in lin.parameters())
        assert got == quant.tensor_bytes(i * o, "fp8-block128")


def test_explicit_dtype_wins_and_says_so():
    r = estimator.estimate("deepseek-v3", dtype="bf16").to_dict(compare=False)
    assert r["options"]["dtype"] == "bf16"
    assert "dtype=auto" in r["conventions"]["weight_format"]
    # a preset without quantization_config keeps its bf16 result under auto
    a = estimator.estimate("llama-3-8b", dtype="auto")
    b = estimator.estimate("llama-3-8b", dtype="bf16")
    assert a.inference.per_gpu.weights_total == b.inference.per_gpu.weights_total


@pytest.mark.parametrize("q, want", [
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True,
      "modules_to_not_convert": ["gate"]}, ("int4", "int4-g128-zp")),
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True}, ("int4", "int4-g128-zp")),
    ({"quant_method": "compressed-tensors", "ignore": ["lm_head"], "config_groups": {"group_0": {
        "targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "block",
                                           "block_structure": [128, 128]}}}},
     ("fp8", "fp8-block128")),
    ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {
        "num_bits": 4, "type": "int", "strategy": "group", "group_size": 32,
        "symmetric": True}}}}, ("int4", "int4-g32")),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
      "bnb_4bit_use_double_quant": True}, ("int4", "nf4-dq")),
    ({"load_in_8bit": True}, ("int8", "int8")),
])
def test_formats_read(q, want):
    cq = ckpt_quant.read({"quantization_config": q})
    assert (cq.dtype, cq.weight_format) == want
    quant.get_format(cq.weight_format)  # a format quant.tensor_bytes knows


def test_unknown_method_falls_back_with_a_note():
    m = {"quantization_config": {"quant_method": "torchao", "quant_type": {}},
         "torch_dtype": "float16"}
    cq = ckpt_quant.read(m)
    assert cq.dtype is None and "not modelled" in cq.notes[0]


@pytest.mark.parametrize("q, field", [
    ("fp8", "quantization_config"),
    ({"quant_method": 3}, "quantization_config.quant_method"),
    ({"quant_method": "fp8", "weight_block_size": "128"}, "quantization_config.weight_block_size"),
    ({"quant_method": "awq", "bits": "4"}, "quantization_config.bits"),
    ({"quant_method": "compressed-tensors", "config_groups": []},
     "quantization_config.config_groups"),
    ({"quant_method": "mxfp4", "modules_to_not_convert": "lm_head"},
     "quantization_config.modules_to_not_convert"),
    ({"quant_method": "awq", "bits": 4, "group_size": 0}, "quantization_config.group_size=0"),
    ({"quant_method": "awq", "w_bit": 4, "q_group_size": -7},
     "quantization_config.q_group_size=-7"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 0}, "quantization_config.group_size=0"),
    ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {
        "num_bits": 4, "type": "int", "strategy": "group", "group_size": 0}}}},
     "quantization_config.config_groups.g.weights.group_size=0"),
])
def test_hostile_configs_name_the_field(q, field):
    with pytest.raises(EstimatorError) as e:
        ckpt_quant.read({"quantization_config": q})
    assert e.value.args and field in str(e.value)


def test_unmodelled_bit_width_names_its_field_once():
    cq = ckpt_quant.read({"quantization_config": {"quant_method": "awq", "w_bit": 3}})
    assert cq.dtype is None and cq.notes[0].startswith("quantization_config.w_bit=3:")
    cq = ckpt_quant.read({"quantization_config": {"quant_method": "compressed-tensors",
                                                  "config_groups": {"g": {"weights": {
                                                      "num_bits": 2, "type": "int"}}}}})
    assert "quantization_config.config_groups.g.weights.num_bits=2:" in " ".join(cq.notes)


def test_auto_says_when_the_config_names_no_dtype():
    cfg = dict(estimator.load_model("mixtral-8x7b").hf_config, torch_dtype=[1])
    conv = estimator.estimate(cfg, dtype="auto").conventions()["weight_format"]
    assert "names no known dtype/torch_dtype (torch_dtype=[1]): bf16 assumed" in conv
    cfg["torch_dtype"] = "float16"
    assert estimator.estimate(cfg, dtype="auto").options.dtype == "fp16"


def test_hostile_config_with_explicit_dtype_still_estimates():
    cfg = dict(estimator.load_model("gpt-oss-120b").hf_config,
               quantization_config={"quant_method": "fp8", "weight_block_size": [1, "x"]})
    d = estimator.estimate(cfg, dtype="bf16").to_dict(compare=False)
    assert "weight_block_size" in d["checkpoint_quantization"]["error"]
    assert "ignored" in d["conventions"]["weight_format"]
    with pytest.raises(EstimatorError, match="weight_block_size"):
        estimator.estimate(cfg, dtype="auto")


def test_auto_reaches_whatif_and_sweep():
    from estimator.sweep import columns, sweep
    from estimator.whatif import what_if
    rows = what_if("gpt-oss-120b", dtype="auto")
    assert "mxfp4" in str(rows)
    auto = sweep("gpt-oss-120b", {"batch": [1]}, dtype="auto")
    assert auto == sweep("gpt-oss-120b", {"batch": [1]}, dtype="mxfp4")
    a, b = sweep("deepseek-v3", {"dtype": ["auto", "fp8"], "batch": [2]})
    assert a["dtype"] == "auto" and {**a, "dtype": "fp8"} == b
    errs = [e for c in columns("deepseek-v3", {"dtype": ["auto", "fp8"], "batch": [1, 2]})
            for e in c["error"]]
    assert errs == [""] * 4


def test_cli_auto_hostile_is_one_line(tmp_path, capsys):
    import json

    from estimator.cli import main
    cfg = dict(estimator.load_model("gpt-oss-120b").hf_config,
               quantization_config={"quant_method": "awq", "bits": "four"})
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    assert main(["report", str(p), "--dtype", "auto"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "quantization_config.bits" in err

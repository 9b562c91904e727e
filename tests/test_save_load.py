import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoModelForSeq2SeqLM

from mu import MuForConditionalGeneration, MuModel

from .conftest import random_ids, tiny_model


def _logits(model, inputs, decoder_ids):
    with torch.no_grad():
        return model(input_ids=inputs, decoder_input_ids=decoder_ids).logits


def test_save_writes_safetensors_code_and_generation_config(tmp_path, model):
    model.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "modeling_mu.py",
        "configuration_mu.py",
    } <= files
    assert not any(name.endswith((".bin", ".pt")) for name in files)
    generation = json.loads((tmp_path / "generation_config.json").read_text())
    assert (generation["bos_token_id"], generation["eos_token_id"]) == (1, 2)
    assert (generation["pad_token_id"], generation["decoder_start_token_id"]) == (0, 1)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_mu.MuForConditionalGeneration"
    assert config["auto_map"]["AutoConfig"] == "configuration_mu.MuConfig"


@pytest.mark.parametrize("tied", [True, False])
def test_round_trip_is_bit_exact(tmp_path, tied):
    model = tiny_model(tie_word_embeddings=tied)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is MuForConditionalGeneration
    original, reloaded = model.state_dict(), loaded.state_dict()
    assert original.keys() == reloaded.keys()
    for key in original:
        assert torch.equal(original[key], reloaded[key]), key
    inputs, decoder_ids = random_ids(2, 6), random_ids(2, 3, seed=1)
    assert torch.equal(_logits(model, inputs, decoder_ids), _logits(loaded, inputs, decoder_ids))


def test_sharded_save_loads_back(tmp_path, model):
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    shards = [name for name in os.listdir(tmp_path) if name.endswith(".safetensors")]
    assert len(shards) > 1 and "model.safetensors.index.json" in os.listdir(tmp_path)
    loaded = MuForConditionalGeneration.from_pretrained(tmp_path).eval()
    inputs, decoder_ids = random_ids(1, 6), random_ids(1, 3, seed=1)
    assert torch.equal(_logits(model, inputs, decoder_ids), _logits(loaded, inputs, decoder_ids))


def test_base_model_loads_from_a_generation_checkpoint(tmp_path, model):
    model.save_pretrained(tmp_path)
    base = AutoModel.from_pretrained(tmp_path)
    assert type(base) is MuModel
    assert torch.equal(base.shared.weight, model.model.shared.weight)


def test_misshapen_tensor_is_refused_by_name(tmp_path, model):
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights["model.encoder.norm.weight"] = torch.ones(31)
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError) as error:
        MuForConditionalGeneration.from_pretrained(tmp_path)
    assert "shape mismatch for model.encoder.norm.weight: the model expects (32,), the checkpoint has (31,)" in str(
        error.value
    )
    loaded = MuForConditionalGeneration.from_pretrained(tmp_path, ignore_mismatched_sizes=True)
    assert loaded.model.encoder.norm.weight.shape == (32,)


def test_a_missing_tensor_is_initialised_and_reported(tmp_path, model):
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    del weights["model.decoder.layers.1.mlp.fc1.weight"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded, info = MuForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert set(info["missing_keys"]) == {"model.decoder.layers.1.mlp.fc1.weight"}
    assert torch.equal(loaded.model.encoder.norm.weight, model.model.encoder.norm.weight)
    fc1 = loaded.model.decoder.layers[1].mlp.fc1.weight
    assert torch.isfinite(fc1).all() and not torch.equal(fc1, model.model.decoder.layers[1].mlp.fc1.weight)


def test_head_class_loads_a_base_checkpoint_and_reports_the_head(tmp_path, model):
    model.model.save_pretrained(tmp_path)  # a `MuModel`: no LM head (untied in the tiny config)
    loaded, info = MuForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert set(info["missing_keys"]) == {"lm_head.weight"}
    assert torch.equal(loaded.model.shared.weight, model.model.shared.weight)


def test_state_dict_without_a_folder_and_a_checkpoint_without_weights(tmp_path, model):
    from_state_dict = MuForConditionalGeneration.from_pretrained(
        None, config=model.config, state_dict=model.state_dict()
    )
    inputs, decoder_ids = random_ids(1, 6), random_ids(1, 3, seed=1)
    assert torch.equal(_logits(from_state_dict.eval(), inputs, decoder_ids), _logits(model, inputs, decoder_ids))

    model.save_pretrained(tmp_path)
    save_file({}, tmp_path / "model.safetensors", metadata={"format": "pt"})
    empty, info = MuForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert set(info["missing_keys"]) == set(model.state_dict())
    assert torch.isfinite(empty.lm_head.weight).all()


def test_checkpoint_of_another_model_is_refused(tmp_path, model):
    state = {f"transformer.h.{index}.attn.weight": torch.zeros(4) for index in range(20)}
    model.save_pretrained(tmp_path, state_dict=state)
    with pytest.raises(ValueError, match=r"weights are missing from it, e\.g\. "):
        MuForConditionalGeneration.from_pretrained(tmp_path)


def test_remote_code_loads_in_a_process_where_mu_cannot_be_imported(tmp_path, model):
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    inputs, decoder_ids = random_ids(2, 6), random_ids(2, 3, seed=1)
    torch.save({"inputs": inputs, "decoder_ids": decoder_ids}, tmp_path / "inputs.pt")
    expected = _logits(model, inputs, decoder_ids)
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["mu"] = None  # any `import mu` now raises ImportError
        try:
            import mu
        except ImportError:
            pass
        else:
            raise SystemExit("mu is importable")
        import torch
        from transformers import AutoModelForSeq2SeqLM
        model = AutoModelForSeq2SeqLM.from_pretrained({str(model_dir)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        data = torch.load({str(tmp_path / "inputs.pt")!r}, weights_only=True)
        with torch.no_grad():
            logits = model(input_ids=data["inputs"], decoder_input_ids=data["decoder_ids"]).logits
        tokens = model.generate(data["inputs"], max_new_tokens=8, min_new_tokens=8, do_sample=False)
        torch.save({{"logits": logits, "tokens": tokens}}, {str(tmp_path / "outputs.pt")!r})
        print(type(model).__module__)
        """
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outputs = torch.load(tmp_path / "outputs.pt", weights_only=True)
    assert torch.equal(outputs["logits"], expected)
    # greedy decoding with the cache, as the remote code runs it, gives the in-package tokens
    assert torch.equal(outputs["tokens"], model.generate(inputs, max_new_tokens=8, min_new_tokens=8, do_sample=False))

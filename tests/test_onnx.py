import copy
import json
import shutil

import pytest
import torch
from transformers import TextStreamer, set_seed

from mu.cli import main
from mu.onnx import MuOnnxGenerator, export_onnx
from mu.onnx.export import DECODER_FILE, ENCODER_FILE

from .conftest import tiny_model
from .vision_setup import vision_model, vision_tokenizer

# 24 prompts from 1 to 47 tokens
PROMPT_LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38, 41, 44, 47]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny Mu folder, and its ONNX export written by `mu export-onnx` (float32) and by `--quantize int8`."""
    root = tmp_path_factory.mktemp("onnx")
    tokenizer = vision_tokenizer(with_image_token=False)
    model = tiny_model(vocab_size=len(tokenizer))
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    assert main(["export-onnx", "--model", str(root / "model"), "--output", str(root / "fp32")]) == 0
    export_onnx(model, root / "int8", quantize="int8")
    return model, tokenizer, root


def _prompts(vocab_size: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randint(3, vocab_size, (1, length), generator=generator) for length in PROMPT_LENGTHS]


def _frequent_tokens(model, prompts: list[torch.Tensor], count: int) -> list[int]:
    """The tokens the model generates most often for these prompts: as EOS ids they end rows early."""
    generated = torch.cat([model.generate(prompt, max_new_tokens=10, do_sample=False)[0, 1:] for prompt in prompts])
    return torch.bincount(generated).topk(count).indices.tolist()


def test_greedy_onnx_is_token_identical_to_pytorch(exported):
    model, _, root = exported
    generator = MuOnnxGenerator(root / "fp32")
    prompts = _prompts(model.config.vocab_size)
    for prompt in prompts:
        expected = model.generate(prompt, max_new_tokens=10, do_sample=False)
        assert generator.generate(prompt, max_new_tokens=10).tolist() == expected.tolist()

    # one left-padded batch of all of them, with two EOS ids the model does produce: each row as alone, and the
    # rows that end early padded as `generate()` pads them
    width = max(PROMPT_LENGTHS)
    batch = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros_like(batch)
    for row, prompt in enumerate(prompts):
        batch[row, width - prompt.shape[1] :] = prompt[0]
        mask[row, width - prompt.shape[1] :] = 1
    options = {"max_new_tokens": 10, "eos_token_id": _frequent_tokens(model, prompts[:8], 2), "pad_token_id": 0}
    expected = model.generate(batch, attention_mask=mask, do_sample=False, **options)
    produced = generator.generate(batch, mask, **options)
    assert produced.tolist() == expected.tolist()
    assert (produced == 0).any(-1).sum() >= 3  # several rows ended early and were padded
    assert len({tuple(row) for row in produced.tolist()}) > 10  # the prompts lead to different answers


def test_sampling_follows_the_same_warpers_and_generator_as_pytorch(exported):
    model, _, root = exported
    generator = MuOnnxGenerator(root / "fp32")
    prompt = torch.cat([p[:, :6] for p in _prompts(model.config.vocab_size)[5:13]])
    for options in (
        {"temperature": 1.5, "top_k": 20, "top_p": 0.9},
        {},  # transformers' defaults: top-k 50
    ):
        set_seed(3)
        expected = model.generate(prompt, do_sample=True, max_new_tokens=8, **options)
        set_seed(3)
        sampled = generator.generate(prompt, do_sample=True, max_new_tokens=8, **options)
        assert sampled.tolist() == expected.tolist()
    greedy = generator.generate(prompt, max_new_tokens=8)
    assert sampled.tolist() != greedy.tolist()
    assert generator.generate(prompt, do_sample=True, top_k=1, max_new_tokens=8).tolist() == greedy.tolist()


def test_int8_is_smaller_and_mostly_agrees_with_fp32(exported):
    model, _, root = exported
    sizes = {
        precision: sum((root / precision / name).stat().st_size for name in (ENCODER_FILE, DECODER_FILE))
        for precision in ("fp32", "int8")
    }
    assert sizes["int8"] < 0.9 * sizes["fp32"]  # a tiny model: its float32 embedding weighs more than its linears
    fp32, int8 = MuOnnxGenerator(root / "fp32"), MuOnnxGenerator(root / "int8")
    prompts = _prompts(model.config.vocab_size)
    reference = torch.cat([fp32.generate(p, max_new_tokens=8, min_new_tokens=8) for p in prompts])
    quantized = torch.cat([int8.generate(p, max_new_tokens=8, min_new_tokens=8) for p in prompts])
    assert (reference[:, 1] == quantized[:, 1]).float().mean() >= 0.75  # the first answer token
    assert (reference[:, 1:] == quantized[:, 1:]).float().mean() >= 0.5  # and most later ones


def test_cli_generates_with_the_onnx_backend(exported, capsys):
    _, _, root = exported
    flags = ["the sky is", "--max-new-tokens", "6"]
    main(["generate", "--model", str(root / "model"), *flags])
    expected = capsys.readouterr().out
    main(["generate", "--backend", "onnx", "--model", str(root / "fp32"), *flags])
    assert capsys.readouterr().out == expected
    main(["generate", "--backend", "onnx", "--model", str(root / "fp32"), *flags, "--stream"])
    assert capsys.readouterr().out.strip() == expected.strip()
    onnx = ["generate", "--backend", "onnx", "--model", str(root / "fp32"), "x"]
    assert main([*onnx, "--num-beams", "2", "--device", "cuda"]) == 1
    assert "does not support --num-beams, --device" in capsys.readouterr().err


def test_corrupt_or_missing_graphs_are_refused(exported, tmp_path, capsys):
    _, _, root = exported
    broken = tmp_path / "broken"
    shutil.copytree(root / "fp32", broken)
    data = (broken / DECODER_FILE).read_bytes()
    (broken / DECODER_FILE).write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=f"{DECODER_FILE} is not a valid ONNX model"):
        MuOnnxGenerator(broken)
    assert main(["generate", "--backend", "onnx", "--model", str(broken), "x"]) == 1
    assert f"mu generate: {broken / DECODER_FILE} is not a valid ONNX model" in capsys.readouterr().err
    (broken / ENCODER_FILE).unlink()
    with pytest.raises(ValueError, match=f"{ENCODER_FILE} is missing"):
        MuOnnxGenerator(broken)


def test_vision_checkpoints_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ValueError, match="text Mu models only: this checkpoint has a vision tower"):
        export_onnx(vision_model(vision_tokenizer()), tmp_path)
    assert not any(tmp_path.iterdir())


def test_export_leaves_a_bfloat16_model_as_it_was(tmp_path):
    model = tiny_model().to(torch.bfloat16)
    export_onnx(model, tmp_path)
    assert model.dtype == torch.bfloat16
    prompt = torch.tensor([[5, 6, 7, 8]])
    expected = copy.deepcopy(model).float().generate(prompt, max_new_tokens=6, do_sample=False)
    assert MuOnnxGenerator(tmp_path).generate(prompt, max_new_tokens=6).tolist() == expected.tolist()


def test_bad_generation_inputs_are_refused(exported, tmp_path):
    _, tokenizer, root = exported
    generator = MuOnnxGenerator(root / "fp32")
    prompt = torch.tensor([[5, 6, 7]])
    for inputs, options, message in [
        (prompt, {"max_new_tokens": 0}, "`max_new_tokens` must be"),
        (torch.zeros(1, 0, dtype=torch.long), {}, "non-empty \\(batch, length\\) array of integers"),
        (torch.tensor([[5.0, 6.0]]), {}, "array of integers, got float32"),
        (torch.tensor([[5, 10_000]]), {}, "outside the vocabulary"),
        (prompt, {"num_beams": 2}, "does not support {'num_beams': 2}"),
        (prompt, {"repetition_penalty": 1.3}, "does not support {'repetition_penalty': 1.3}"),
    ]:
        with pytest.raises(ValueError, match=message):
            generator.generate(inputs, **options)
    with pytest.raises(ValueError, match="`attention_mask` has shape"):
        generator.generate(prompt, torch.ones(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="Input sequence\\(s\\) \\[1\\] have no tokens"):
        generator.generate(torch.tensor([[5, 6], [7, 8]]), torch.tensor([[1, 1], [0, 0]]))
    with pytest.raises(TypeError, match="Unknown generation options: \\['beam_width'\\]"):
        generator.generate(prompt, beam_width=2)
    with pytest.raises(ValueError, match="TextStreamer only supports batch size 1"):
        generator.generate(torch.tensor([[5, 6], [7, 8]]), streamer=TextStreamer(tokenizer))

    mismatched = tmp_path / "mismatched"
    shutil.copytree(root / "fp32", mismatched)
    config = json.loads((mismatched / "config.json").read_text())
    (mismatched / "config.json").write_text(json.dumps({**config, "decoder_layers": config["decoder_layers"] + 1}))
    with pytest.raises(ValueError, match="the graph and config.json differ"):
        MuOnnxGenerator(mismatched)

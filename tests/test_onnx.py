import shutil

import numpy as np
import pytest
import torch
from transformers import set_seed

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


def test_greedy_onnx_is_token_identical_to_pytorch(exported):
    model, _, root = exported
    generator = MuOnnxGenerator(root / "fp32")
    prompts = _prompts(model.config.vocab_size)
    for prompt in prompts:
        expected = model.generate(prompt, max_new_tokens=10, do_sample=False)
        assert generator.generate(prompt, max_new_tokens=10).tolist() == expected.tolist()

    # one left-padded batch of all of them: each row as alone (finished rows padded as `generate()` pads them)
    width = max(PROMPT_LENGTHS)
    batch = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros_like(batch)
    for row, prompt in enumerate(prompts):
        batch[row, width - prompt.shape[1] :] = prompt[0]
        mask[row, width - prompt.shape[1] :] = 1
    expected = model.generate(batch, attention_mask=mask, max_new_tokens=10, do_sample=False)
    produced = generator.generate(batch, mask, max_new_tokens=10)
    assert produced.tolist() == expected.tolist()
    assert len({tuple(row) for row in produced.tolist()}) > 10  # the prompts lead to different answers


def test_sampling_follows_the_same_warpers_and_generator_as_pytorch(exported):
    model, _, root = exported
    generator = MuOnnxGenerator(root / "fp32")
    prompt = torch.cat([p[:, :6] for p in _prompts(model.config.vocab_size)[5:13]])
    options = {"do_sample": True, "temperature": 1.5, "top_k": 20, "top_p": 0.9, "max_new_tokens": 8}
    set_seed(3)
    expected = model.generate(prompt, **options)
    set_seed(3)
    sampled = generator.generate(prompt, **options)
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
    assert sizes["int8"] < 0.9 * sizes["fp32"]
    fp32, int8 = MuOnnxGenerator(root / "fp32"), MuOnnxGenerator(root / "int8")
    agreement = []
    for prompt in _prompts(model.config.vocab_size):
        reference, quantized = fp32.generate(prompt, max_new_tokens=8), int8.generate(prompt, max_new_tokens=8)
        agreement.append(float((reference[0, :2] == quantized[0, :2]).all()))
    assert np.mean(agreement) >= 0.75  # the first answer token of most prompts survives quantization


def test_cli_generates_with_the_onnx_backend(exported, capsys):
    _, _, root = exported
    flags = ["the sky is", "--max-new-tokens", "6"]
    main(["generate", "--model", str(root / "model"), *flags])
    expected = capsys.readouterr().out
    main(["generate", "--backend", "onnx", "--model", str(root / "fp32"), *flags])
    assert capsys.readouterr().out == expected
    main(["generate", "--backend", "onnx", "--model", str(root / "fp32"), *flags, "--stream"])
    assert capsys.readouterr().out.strip() == expected.strip()
    with pytest.raises(SystemExit, match="onnx backend does not support --num-beams"):
        main(["generate", "--backend", "onnx", "--model", str(root / "fp32"), "x", "--num-beams", "2"])


def test_corrupt_or_missing_graphs_are_refused(exported, tmp_path):
    _, _, root = exported
    broken = tmp_path / "broken"
    shutil.copytree(root / "fp32", broken)
    data = (broken / DECODER_FILE).read_bytes()
    (broken / DECODER_FILE).write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=f"{DECODER_FILE} is not a valid ONNX model"):
        MuOnnxGenerator(broken)
    with pytest.raises(SystemExit, match="is not a valid ONNX model"):
        main(["generate", "--backend", "onnx", "--model", str(broken), "x"])
    (broken / ENCODER_FILE).unlink()
    with pytest.raises(ValueError, match=f"{ENCODER_FILE} is missing"):
        MuOnnxGenerator(broken)


def test_vision_checkpoints_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ValueError, match="text Mu models only: this checkpoint has a vision tower"):
        export_onnx(vision_model(vision_tokenizer()), tmp_path)
    assert not any(tmp_path.iterdir())


def test_export_leaves_a_bfloat16_model_as_it_was(tmp_path):
    model = tiny_model().to(torch.bfloat16)
    paths = export_onnx(model, tmp_path)
    assert model.dtype == torch.bfloat16
    assert MuOnnxGenerator(tmp_path).generate(torch.tensor([[5, 6, 7]]), max_new_tokens=3, min_new_tokens=3).shape == (
        1,
        4,
    )
    assert set(paths) == {ENCODER_FILE, DECODER_FILE}

"""Mu on CTranslate2: the converted model's float32 greedy tokens are PyTorch's, alone and in padded batches, on
prompts of 8 to 1024 tokens; what cannot be converted is refused with the reason."""

import shutil

import ctranslate2
import pytest
import torch
from transformers import GenerationConfig

from mu.cli import main
from mu.engines.ctranslate2 import export_ctranslate2
from mu.synthetic_data.qa import make_synthetic_qa, prompt_completion_rows

from .conftest import tiny_model
from .distillation_setup import qa_tokenizer
from .vision_setup import vision_model, vision_tokenizer

NEW_TOKENS = 12
LENGTHS = [8, 9, 15, 16, 31, 40, 57, 64, 100, 127, 128, 200, 256, 300, 333, 400, 512, 555, 640, 700, 800, 900, 1000]
LENGTHS += [1024]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A tiny Mu folder (wide initialisation, untied head: varied greedy outputs) and its float32 conversion."""
    root = tmp_path_factory.mktemp("ctranslate2")
    tokenizer = qa_tokenizer()
    model = tiny_model(vocab_size=len(tokenizer), max_position_embeddings=1024)
    model.save_pretrained(root / "mu")
    tokenizer.save_pretrained(root / "mu")
    export_ctranslate2(root / "mu", root / "ct2", quantization="float32")
    return model, tokenizer, ctranslate2.Translator(str(root / "ct2"), device="cpu", compute_type="float32")


def _prompts(tokenizer) -> list[list[int]]:
    """Token ids of real text, cut to each of `LENGTHS`."""
    text = " ".join(row["prompt"] for row in prompt_completion_rows(make_synthetic_qa(60, seed=5)))
    ids = tokenizer(text).input_ids
    assert len(ids) >= max(LENGTHS)
    return [ids[:length] for length in LENGTHS]


def _pytorch_greedy(model, prompt: list[int]) -> list[int]:
    with torch.no_grad():
        output = model.generate(
            torch.tensor([prompt]), do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS
        )
    return output[0, 1:].tolist()  # without the decoder start token


def _ctranslate2_greedy(translator, tokenizer, prompts: list[list[int]]) -> list[list[int]]:
    results = translator.translate_batch(
        [tokenizer.convert_ids_to_tokens(prompt) for prompt in prompts],
        beam_size=1,
        max_decoding_length=NEW_TOKENS,
        min_decoding_length=NEW_TOKENS,
        max_input_length=0,
    )
    return [tokenizer.convert_tokens_to_ids(result.hypotheses[0]) for result in results]


def test_float32_greedy_tokens_are_pytorchs_alone_and_in_padded_batches(converted):
    model, tokenizer, translator = converted
    prompts = _prompts(tokenizer)
    expected = [_pytorch_greedy(model, prompt) for prompt in prompts]
    assert len({tuple(tokens) for tokens in expected}) > len(prompts) // 2, "the model must answer differently"
    alone = [_ctranslate2_greedy(translator, tokenizer, [prompt])[0] for prompt in prompts]
    assert alone == expected
    # batches mixing short and long prompts, which CTranslate2 pads
    batched = _ctranslate2_greedy(translator, tokenizer, prompts[::2]) + _ctranslate2_greedy(
        translator, tokenizer, prompts[1::2]
    )
    assert batched == expected[::2] + expected[1::2]


def test_refuses_a_vision_checkpoint_a_bad_quantization_and_a_non_empty_folder(tmp_path):
    tokenizer = vision_tokenizer()
    vision_model(tokenizer).save_pretrained(tmp_path / "vision")
    tokenizer.save_pretrained(tmp_path / "vision")
    with pytest.raises(ValueError, match="vision checkpoint cannot be converted"):
        export_ctranslate2(tmp_path / "vision", tmp_path / "out")
    with pytest.raises(ValueError, match="quantization 'int4'"):
        export_ctranslate2(tmp_path / "vision", tmp_path / "out", quantization="int4")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not empty"):
        export_ctranslate2(tmp_path / "vision", tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_refuses_ntk_scaled_rotary_embeddings(tmp_path):
    tokenizer = qa_tokenizer()
    model = tiny_model(vocab_size=len(tokenizer), rope_scaling_factor=2.0)
    model.save_pretrained(tmp_path / "mu")
    tokenizer.save_pretrained(tmp_path / "mu")
    with pytest.raises(ValueError, match="rope_scaling_factor 2.0"):
        export_ctranslate2(tmp_path / "mu", tmp_path / "out")


def test_the_command_writes_an_int8_model_with_the_tokenizer(converted, tmp_path, capsys):
    model, tokenizer, _ = converted
    folder = tmp_path / "mu"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    for quantization in ("float32", "int8"):
        output = tmp_path / quantization
        flags = ["--model", str(folder), "--output", str(output), "--quantization", quantization]
        assert main(["export-ctranslate2", *flags]) == 0
        assert f"wrote {output}" in capsys.readouterr().out
        assert {"model.bin", "tokenizer.json", "tokenizer_config.json"} <= {path.name for path in output.iterdir()}
    sizes = {name: (tmp_path / name / "model.bin").stat().st_size for name in ("float32", "int8")}
    assert sizes["int8"] < 0.5 * sizes["float32"]
    int8 = ctranslate2.Translator(str(tmp_path / "int8"), device="cpu", compute_type="int8")
    assert all(len(tokens) == NEW_TOKENS for tokens in _ctranslate2_greedy(int8, tokenizer, _prompts(tokenizer)[:4]))


@pytest.fixture(scope="module")
def folders(converted, tmp_path_factory):
    """The tiny Mu's folder and its float32 CTranslate2 folder, as the commands write them."""
    model, tokenizer, _ = converted
    root = tmp_path_factory.mktemp("generate")
    model.save_pretrained(root / "mu")
    tokenizer.save_pretrained(root / "mu")
    assert main(["export-ctranslate2", "--model", str(root / "mu"), "--output", str(root / "ct2")]) == 0
    return root / "mu", root / "ct2"


def _generate(capsys, folder, *flags) -> list[str]:
    capsys.readouterr()
    assert main(["generate", "--model", str(folder), "Who keeps a ferret?", "--max-new-tokens", "10", *flags]) == 0
    return capsys.readouterr().out.splitlines()


def test_mu_generate_with_ctranslate2_answers_as_pytorch_greedy_and_streams_the_same(folders, capsys):
    pytorch, ct2 = folders
    expected = _generate(capsys, pytorch, "--context", "Ana Lo keeps a ferret.")
    assert _generate(capsys, ct2, "--backend", "ctranslate2", "--context", "Ana Lo keeps a ferret.") == expected
    streamed = _generate(capsys, ct2, "--backend", "ctranslate2", "--context", "Ana Lo keeps a ferret.", "--stream")
    assert [line.strip() for line in streamed if line.strip()] == expected


def test_mu_generate_with_ctranslate2_samples_reproducibly_and_returns_beams(folders, capsys):
    _, ct2 = folders
    sample = ["--backend", "ctranslate2", "--do-sample", "--temperature", "1.5", "--top-k", "0"]
    draws = [_generate(capsys, ct2, *sample, "--seed", str(seed)) for seed in (0, 0, 1, 2, 3)]
    assert draws[0] == draws[1] and len({tuple(draw) for draw in draws}) > 1
    beams = _generate(capsys, ct2, "--backend", "ctranslate2", "--num-beams", "3", "--num-return-sequences", "2")
    assert len(beams) == 2


def test_mu_generate_with_ctranslate2_refuses_what_the_engine_cannot_do(folders, capsys):
    _, ct2 = folders
    for flags, named in (
        (["--dtype", "float16"], "--dtype"),
        (["--device", "mps"], "--device"),
        (["--do-sample", "--num-return-sequences", "2"], "--num-return-sequences with --do-sample"),
    ):
        assert main(["generate", "--model", str(ct2), "hi", "--backend", "ctranslate2", *flags]) == 1
        assert f"does not support {named}" in capsys.readouterr().err


def test_mu_generate_with_ctranslate2_takes_defaults_from_the_folders_generation_config(
    converted, folders, capsys, tmp_path
):
    # A repetition penalty in the saved generation config changes the greedy answer of both backends alike.
    model, _, _ = converted
    pytorch, ct2 = folders
    plain = _generate(capsys, ct2, "--backend", "ctranslate2")
    answers = {}
    for name, folder in (("pytorch", pytorch), ("ctranslate2", ct2)):
        copy = tmp_path / name
        shutil.copytree(folder, copy)
        ids = {key: getattr(model.config, key) for key in ("bos_token_id", "eos_token_id", "pad_token_id")}
        config = GenerationConfig(**ids, decoder_start_token_id=model.config.decoder_start_token_id)
        config.repetition_penalty = 20.0
        config.save_pretrained(copy)
        answers[name] = _generate(capsys, copy, "--backend", name)
    assert answers["ctranslate2"] == answers["pytorch"] != plain


def test_an_answer_that_ends_at_once_stays_empty(tmp_path, capsys):
    """CTranslate2 forbids EOS at the first step by default; an unanswerable question's empty answer must survive."""
    tokenizer = qa_tokenizer()
    model = tiny_model(vocab_size=len(tokenizer), lm_head_bias=True)
    with torch.no_grad():
        model.lm_head.bias[model.config.eos_token_id] = 50.0  # greedy ends at once
    model.save_pretrained(tmp_path / "mu")
    tokenizer.save_pretrained(tmp_path / "mu")
    assert main(["export-ctranslate2", "--model", str(tmp_path / "mu"), "--output", str(tmp_path / "ct2")]) == 0
    assert _generate(capsys, tmp_path / "mu") == [""]
    assert _generate(capsys, tmp_path / "ct2", "--backend", "ctranslate2") == [""]
    assert _generate(capsys, tmp_path / "ct2", "--backend", "ctranslate2", "--stream") == [""]

import subprocess
import sys

import pytest
import torch

from mu.arguments import CommandError
from mu.cli import build_parser, main
from mu.prompts import format_qa_prompt
from mu.synthetic_data.tokenizer import train_tokenizer

from .conftest import tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-model")
    tokenizer = train_tokenizer(["the quick brown fox jumps over the lazy dog"] * 8, vocab_size=300)
    model = tiny_model(vocab_size=len(tokenizer))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


def _expected(model, tokenizer, text, **kwargs):
    inputs = tokenizer(text, return_tensors="pt")
    output = model.generate(**inputs, **kwargs)
    return [t.strip() for t in tokenizer.batch_decode(output, skip_special_tokens=True)]


def test_help_lists_every_subcommand():
    result = subprocess.run([sys.executable, "-m", "mu.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"generate", "distill", "demo", "benchmark", "convert"} <= subcommands
    for name in subcommands:
        assert name in result.stdout


def test_generate_prints_the_greedy_answer(model_dir, capsys):
    folder, model, tokenizer = model_dir
    assert main(["generate", "--model", str(folder), "the lazy fox", "--max-new-tokens", "6"]) == 0
    expected = _expected(model, tokenizer, "the lazy fox", max_new_tokens=6, do_sample=False)
    assert expected[0]
    assert capsys.readouterr().out.strip() == expected[0]


def test_generate_with_context_uses_the_reference_qa_prompt(model_dir, capsys):
    folder, model, tokenizer = model_dir
    main(["generate", "--model", str(folder), "who jumps?", "--context", "the fox jumps", "--max-new-tokens", "5"])
    prompt = format_qa_prompt("who jumps?", "the fox jumps")
    assert capsys.readouterr().out.strip() == _expected(model, tokenizer, prompt, max_new_tokens=5, do_sample=False)[0]


def test_stream_prints_the_same_text(model_dir, capsys):
    folder, model, tokenizer = model_dir
    main(["generate", "--model", str(folder), "the dog", "--max-new-tokens", "6", "--stream"])
    expected = _expected(model, tokenizer, "the dog", max_new_tokens=6, do_sample=False)[0]
    assert capsys.readouterr().out.strip() == expected


def test_sampling_flags_are_seeded_and_beams_return_several(model_dir, capsys):
    folder, _, _ = model_dir
    args = ["generate", "--model", str(folder), "the dog", "--max-new-tokens", "6", "--do-sample", "--top-k", "5"]
    main([*args, "--seed", "3", "--temperature", "2.0"])
    first = capsys.readouterr().out
    main([*args, "--seed", "3", "--temperature", "2.0"])
    assert capsys.readouterr().out == first
    main(["generate", "--model", str(folder), "the dog", "--num-beams", "3", "--num-return-sequences", "2"])
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_dtype_flag_loads_in_that_dtype(model_dir, monkeypatch, capsys):
    folder, _, _ = model_dir
    seen = {}
    from transformers import GenerationMixin

    original = GenerationMixin.generate

    def spy(self, *args, **kwargs):
        seen["dtype"] = self.dtype
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", spy)
    main(["generate", "--model", str(folder), "the dog", "--max-new-tokens", "2", "--dtype", "bfloat16"])
    assert seen["dtype"] == torch.bfloat16


def test_stream_refuses_several_sequences(model_dir, capsys):
    folder, _, _ = model_dir
    assert main(["generate", "--model", str(folder), "x", "--stream", "--num-beams", "2"]) == 1
    assert (
        capsys.readouterr().err
        == "mu generate: --stream works with one sequence only (no --num-beams/--num-return-sequences).\n"
    )


def test_debug_shows_the_traceback_of_an_expected_error(model_dir):
    folder, _, _ = model_dir
    with pytest.raises(CommandError, match="--stream works with one sequence only"):
        main(["--debug", "generate", "--model", str(folder), "x", "--stream", "--num-beams", "2"])


def test_unknown_flags_are_refused_outside_distill(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--no-such-flag"])
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err

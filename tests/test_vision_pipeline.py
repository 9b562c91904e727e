import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import pipeline

from mu import MuProcessor
from mu.cli import main
from mu.model_card import build_model_card

from .conftest import tiny_model
from .vision_setup import noise_image, vision_model, vision_processor, vision_tokenizer, vqa_prompt

EXAMPLE = Path(__file__).parents[1] / "examples" / "generate_text_image2text.py"


@pytest.fixture(scope="module")
def vision_dir(tmp_path_factory):
    """A saved vision checkpoint: model, processor and card."""
    folder = tmp_path_factory.mktemp("vision")
    tokenizer = vision_tokenizer()
    model = vision_model(tokenizer)
    model.save_pretrained(folder)
    vision_processor(tokenizer, model.config).save_pretrained(folder)
    build_model_card(model, "Mu vision test", "A test.", repo=str(folder)).save(folder / "README.md")
    return folder, model


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    """A saved text-only checkpoint, with the processor every Mu folder carries."""
    folder = tmp_path_factory.mktemp("text")
    tokenizer = vision_tokenizer(with_image_token=False)
    model = tiny_model(vocab_size=len(tokenizer))
    model.save_pretrained(folder)
    MuProcessor.from_model_config(model.config, tokenizer).save_pretrained(folder)
    build_model_card(model, "Mu text test", "A test.", repo=str(folder)).save(folder / "README.md")
    return folder, model


def _answer(model, processor, max_new_tokens: int, **processor_inputs) -> str:
    inputs = processor(return_tensors="pt", **processor_inputs)
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.tokenizer.decode(output[0], skip_special_tokens=True)


def test_pipeline_answers_image_questions_from_a_saved_folder(vision_dir):
    folder, model = vision_dir
    pipe = pipeline("image-text-to-text", model=str(folder))
    processor = pipe.processor
    image = noise_image(480, 640)
    question = "how many cats are on the mat"
    expected = _answer(model, processor, 8, images=image, text=processor.apply_chat_template(vqa_prompt(question)))
    assert expected.strip()

    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": question}]}]
    (chat,) = pipe(text=messages, max_new_tokens=8)
    assert chat["generated_text"][-1] == {"role": "assistant", "content": expected}
    (answer,) = pipe(text=messages, max_new_tokens=8, return_full_text=False)
    assert answer["generated_text"] == expected
    other = pipe(
        text=[
            {
                **messages[0],
                "content": [
                    {"type": "image", "image": noise_image(300, 4000, seed=5)},
                    {"type": "text", "text": question},
                ],
            }
        ],
        max_new_tokens=8,
        return_full_text=False,
    )
    assert other[0]["generated_text"] != expected  # the image is read


@pytest.mark.parametrize("checkpoint", ["vision_dir", "text_dir"])
def test_pipeline_answers_text_only_prompts(checkpoint, request):
    folder, model = request.getfixturevalue(checkpoint)
    pipe = pipeline("image-text-to-text", model=str(folder))
    prompt = "what is the colour of the sky"
    (answer,) = pipe(text=prompt, max_new_tokens=8, return_full_text=False)
    assert answer["generated_text"] == _answer(model, pipe.processor, 8, text=prompt)
    (full,) = pipe(text=prompt, max_new_tokens=8)
    assert full["generated_text"] == prompt + answer["generated_text"]


@pytest.mark.parametrize("checkpoint", ["vision_dir", "text_dir"])
def test_model_card_usage_runs_as_written(checkpoint, request, tmp_path):
    folder, model = request.getfixturevalue(checkpoint)
    card = (folder / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    assert any('pipeline("image-text-to-text"' in block for block in blocks)
    image = tmp_path / "photo.jpg"
    noise_image(500, 700).save(image)
    code = "\n".join(blocks).replace('"photo.jpg"', repr(str(image)))
    lines = []
    exec(code, {"print": lines.append})  # noqa: S102 - the card's own snippet, its printed answers collected
    assert len(lines) == (3 if checkpoint == "vision_dir" else 2)
    assert lines[0] == lines[1]  # the Auto classes and the pipeline give the same answer
    if checkpoint == "vision_dir":
        processor = MuProcessor.from_pretrained(folder)
        question = "What is on the table?"
        prompt = processor.apply_chat_template(vqa_prompt(question))
        from PIL import Image

        assert lines[2] == _answer(model, processor, 32, images=Image.open(image), text=prompt)


def test_cli_generate_answers_a_question_about_an_image(vision_dir, tmp_path, capsys):
    folder, model = vision_dir
    image = tmp_path / "picture.png"
    noise_image(336, 500).save(image)
    assert (
        main(["generate", "--model", str(folder), "--image", str(image), "how many cats", "--max-new-tokens", "6"])
        == 0
    )
    processor = MuProcessor.from_pretrained(folder)
    from PIL import Image

    expected = _answer(
        model, processor, 6, images=Image.open(image), text=processor.apply_chat_template(vqa_prompt("how many cats"))
    )
    assert capsys.readouterr().out.strip() == expected.strip()


def test_cli_image_errors_are_clear(vision_dir, text_dir, tmp_path, capsys):
    folder, _ = vision_dir
    corrupt, good = tmp_path / "corrupt.jpg", tmp_path / "good.png"
    corrupt.write_bytes(b"\xff\xd8\xff not really a jpeg")
    noise_image(40, 30).save(good)
    for argv, message in (
        (["--model", str(folder), "--image", str(corrupt)], "mu generate: Cannot read the image .*corrupt.jpg"),
        (["--model", str(text_dir[0]), "--image", str(good)], "mu generate: --image needs a vision checkpoint"),
        (["--model", str(folder), "--image", str(good), "--context", "c"], "--image and --context exclude each other"),
    ):
        assert main(["generate", *argv, "what"]) == 1
        assert re.search(message, capsys.readouterr().err)


def test_example_script_answers_about_an_image(vision_dir, tmp_path):
    folder, model = vision_dir
    image = tmp_path / "picture.png"
    noise_image(400, 300).save(image)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(EXAMPLE), "--model", str(folder), "--image", str(image), "--question", "what"]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    processor = MuProcessor.from_pretrained(folder)
    from PIL import Image

    expected = _answer(
        model, processor, 64, images=Image.open(image), text=processor.apply_chat_template(vqa_prompt("what"))
    )
    assert result.stdout == expected + "\n"

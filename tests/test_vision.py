import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor
from transformers.models.llava_onevision.modeling_llava_onevision import (
    LlavaOnevisionModel,
    image_size_to_num_patches,
)

from mu import MuForConditionalGeneration, MuProcessor

from .conftest import tiny_config
from .vision_setup import noise_image, vision_config, vision_model, vision_processor, vision_tokenizer, vqa_prompt

# (height, width): tiny, square, just off the tile, both orientations of every pinpoint, extreme aspect ratios.
IMAGE_SIZES = [
    (1, 1),
    (2, 3),
    (14, 14),
    (100, 100),
    (335, 337),
    (336, 336),
    (337, 336),
    (224, 448),
    (448, 224),
    (480, 640),
    (640, 480),
    (672, 672),
    (672, 1008),
    (1008, 672),
    (700, 1000),
    (1080, 1920),
    (1920, 1080),
    (300, 4000),
    (4000, 300),
    (50, 2000),
    (2000, 50),
    (999, 1001),
    (345, 687),
    (1344, 1344),
    (1, 4000),  # unpadding leaves less than one patch row
    (4000, 1),
]


@pytest.fixture(scope="module")
def tokenizer():
    return vision_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return vision_model(tokenizer)


@pytest.fixture(scope="module")
def processor(tokenizer, model):
    return vision_processor(tokenizer, model.config)


def _prompt(processor, question: str = "what is the colour of the sky") -> str:
    return processor.apply_chat_template(vqa_prompt(question), tokenize=False)


def test_chat_template_renders_the_reference_prompts(processor):
    # The reference `mu_v1` conversation: "Question:" + " " + "<image>\n{question}", the `<image>` moved after Context.
    assert _prompt(processor, "What sport are they playing?") == (
        "Answer the following question based only on the context.\n###Question: \n"
        "What sport are they playing?\n###Context: <image>"
    )
    text_only = [{"role": "user", "content": [{"type": "text", "text": "Summarize: a b c"}]}]
    assert processor.apply_chat_template(text_only, tokenize=False) == "Summarize: a b c"
    assert processor.apply_chat_template([{"role": "user", "content": "plain"}], tokenize=False) == "plain"
    two_turns = vqa_prompt("q") + [{"role": "assistant", "content": "a"}, *vqa_prompt("r")]
    with pytest.raises(Exception, match="single question"):
        processor.apply_chat_template(two_turns, tokenize=False)


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (336, 336, 576 + 24 * 25),  # one tile: 24 x 24 patches, each row closed by image_newline
        (480, 640, 576 + 36 * 49),  # 2 x 2 tiles (48 x 48), 6 padding rows cut on each side
        (672, 1008, 576 + 33 * 51),  # 2 x 3 tiles (48 x 72) > 3 tiles' worth: downsampled by sqrt(2) to 33 x 50
        (1, 1, 576 + 24 * 25),
    ],
)
def test_feature_count_by_hand(processor, height, width, expected):
    assert processor.num_image_features(height, width) == expected


def test_token_count_equals_packed_features_for_every_size(model, processor):
    images = [noise_image(height, width, seed=index) for index, (height, width) in enumerate(IMAGE_SIZES)]
    prompts = [_prompt(processor)] * len(images)
    inputs = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    placeholders = (inputs.input_ids == model.config.image_token_id).sum(-1).tolist()
    with torch.no_grad():
        batched = model.get_image_features(
            inputs.pixel_values, inputs.image_sizes, inputs.batch_num_images
        ).pooler_output
    assert [feature.shape[0] for feature in batched] == placeholders
    assert placeholders == [processor.num_image_features(height, width) for height, width in IMAGE_SIZES]
    assert len(set(placeholders)) > 8  # the sizes exercise many different packings
    for image, feature in zip(images, batched):
        alone = processor(images=image, text=_prompt(processor), return_tensors="pt")
        with torch.no_grad():
            (single,) = model.get_image_features(alone.pixel_values, alone.image_sizes).pooler_output
        torch.testing.assert_close(feature, single, atol=1e-5, rtol=1e-5)


def test_packing_equals_llava_onevision(model):
    """The packing against transformers' own `LlavaOnevisionModel.pack_image_features` on the same features."""
    config = model.config
    generator = torch.Generator().manual_seed(0)
    encoder = model.get_encoder()
    sizes = torch.tensor(IMAGE_SIZES)
    features = []
    for size in IMAGE_SIZES:
        num_tiles = image_size_to_num_patches(size, config.image_grid_pinpoints, config.vision_config.image_size)
        features.append(torch.randn(num_tiles, 576, config.hidden_size, generator=generator))
    reference, lengths = LlavaOnevisionModel.pack_image_features(
        SimpleNamespace(config=config),
        features,
        sizes,
        image_newline=encoder.image_newline.detach(),
        vision_aspect_ratio=config.vision_aspect_ratio,
    )
    with torch.no_grad():
        ours = [encoder.pack_image_features(feature, size) for feature, size in zip(features, sizes)]
    assert [len(packed) for packed in ours] == lengths.tolist()
    for mine, theirs in zip(ours, reference):
        assert torch.equal(mine, theirs)


def _teacher_forced_logits(model, inputs, decoder_ids):
    with torch.no_grad():
        return model(**inputs, decoder_input_ids=decoder_ids).logits


QUESTIONS = ["how many cats", "what is the colour of the sky", "answer", "how many cats are on the mat", "what"]


@pytest.mark.parametrize("group", range(0, len(IMAGE_SIZES), 5))
def test_batched_equals_one_by_one(model, processor, group):
    """Every image size, five at a time with a text-only prompt, in one padded batch: each prompt gets its own
    logits and greedy answer."""
    sizes = IMAGE_SIZES[group : group + 5]
    images = [noise_image(height, width, seed=group + index) for index, (height, width) in enumerate(sizes)]
    prompts = [_prompt(processor, QUESTIONS[index]) for index in range(len(sizes))] + ["the sky is"]
    decoder_ids = torch.tensor([[1, 5, 9, 14, 3]] * len(prompts))
    batch = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    batched = _teacher_forced_logits(model, batch, decoder_ids)
    answers = model.generate(**batch, max_new_tokens=6, do_sample=False)
    for row, prompt in enumerate(prompts):
        alone = processor(images=images[row] if row < len(images) else None, text=prompt, return_tensors="pt")
        torch.testing.assert_close(
            batched[row : row + 1], _teacher_forced_logits(model, alone, decoder_ids[:1]), atol=1e-5, rtol=1e-4
        )
        single = model.generate(**alone, max_new_tokens=6, do_sample=False)[0]
        assert answers[row, : len(single)].tolist() == single.tolist()
    assert len({tuple(answer.tolist()) for answer in answers}) > 1  # the images change the answers


def _single_tile_features(model, tile: torch.Tensor) -> torch.Tensor:
    """The reference path for one tile: CLIP's second-to-last layer without CLS, the projector, `image_newline`."""
    encoder = model.get_encoder()
    hidden = encoder.vision_tower(tile[None], output_hidden_states=True).hidden_states[-2][0, 1:]
    return torch.cat([encoder.multi_modal_projector(hidden), encoder.image_newline[None]])


def test_several_images_in_one_prompt_are_encoded_as_single_tiles(model, processor):
    images = [noise_image(100, 300, seed=1), noise_image(900, 200, seed=2)]
    inputs = processor(images=[images], text=["<image><image> how many cats"], return_tensors="pt")
    assert int((inputs.input_ids == model.config.image_token_id).sum()) == 2 * (576 + 1)
    with torch.no_grad():
        features = model.get_image_features(inputs.pixel_values, inputs.image_sizes, inputs.batch_num_images)
        for index, packed in enumerate(features.pooler_output):
            torch.testing.assert_close(packed, _single_tile_features(model, inputs.pixel_values[index, 0]))


def test_images_change_the_encoder_input_only_at_the_placeholders(model, processor):
    prompt = _prompt(processor)
    one = processor(images=noise_image(336, 336, seed=1), text=prompt, return_tensors="pt")
    other = processor(images=noise_image(336, 336, seed=2), text=prompt, return_tensors="pt")
    assert torch.equal(one.input_ids, other.input_ids)
    encoder = model.get_encoder()
    placeholders = one.input_ids[0] == model.config.image_token_id
    with torch.no_grad():
        merged = [
            encoder.merge_image_features(
                inputs.input_ids,
                encoder.embed_tokens(inputs.input_ids),
                encoder.get_image_features(inputs.pixel_values, inputs.image_sizes).pooler_output,
            )[0]
            for inputs in (one, other)
        ]
        text_embeddings = encoder.embed_tokens(one.input_ids)[0]
    assert torch.equal(merged[0][~placeholders], text_embeddings[~placeholders])
    assert torch.equal(merged[1][~placeholders], text_embeddings[~placeholders])
    # at the placeholders the two images differ, except for the `image_newline` closing each of the 24 patch rows
    same = torch.isclose(merged[0][placeholders], merged[1][placeholders]).all(-1)
    assert int(same.sum()) == 24
    assert torch.equal(merged[0][placeholders][same], encoder.image_newline.detach().expand(24, -1))


def test_placeholders_are_found_in_inputs_embeds_too(model, processor):
    inputs = processor(images=noise_image(480, 640), text=_prompt(processor), return_tensors="pt")
    encoder = model.get_encoder()
    with torch.no_grad():
        from_ids = encoder(**inputs).last_hidden_state
        embeds = encoder.embed_tokens(inputs.input_ids)
        from_embeds = encoder(
            inputs_embeds=embeds,
            attention_mask=inputs.attention_mask,
            pixel_values=inputs.pixel_values,
            image_sizes=inputs.image_sizes,
        ).last_hidden_state
    torch.testing.assert_close(from_ids, from_embeds)


def test_features_do_not_change_after_a_call_that_records_hidden_states(model, processor):
    """Output recording on the encoder must not shift which tower layer feeds the projector."""
    inputs = processor(images=noise_image(336, 500), text=_prompt(processor), return_tensors="pt")
    with torch.no_grad():
        before = model.get_image_features(inputs.pixel_values, inputs.image_sizes).pooler_output[0]
        model.get_encoder()(**inputs, output_hidden_states=True, output_attentions=True)
        after = model.get_image_features(inputs.pixel_values, inputs.image_sizes).pooler_output[0]
    assert torch.equal(before, after)


def test_generate_runs_the_tower_once_also_with_beams_and_several_sequences(model, processor):
    inputs = processor(images=noise_image(672, 1008), text=_prompt(processor), return_tensors="pt")
    calls = []
    hook = model.get_encoder().vision_tower.register_forward_hook(lambda *_: calls.append(1))
    try:
        output = model.generate(**inputs, max_new_tokens=5, num_beams=3, num_return_sequences=2, do_sample=False)
    finally:
        hook.remove()
    assert calls == [1] and output.shape[0] == 2


def test_get_image_features_takes_the_standard_output_options(model, processor):
    inputs = processor(images=noise_image(480, 640), text=_prompt(processor), return_tensors="pt")
    with torch.no_grad():
        plain = model.get_image_features(inputs.pixel_values, inputs.image_sizes)
        full = model.get_image_features(
            inputs.pixel_values,
            inputs.image_sizes,
            return_dict=True,
            output_hidden_states=True,
            output_attentions=True,
        )
        as_tuple = model.get_image_features(inputs.pixel_values, inputs.image_sizes, return_dict=False)
    layers = model.config.vision_config.num_hidden_layers
    assert len(full.hidden_states) == layers + 1  # attentions are accepted; sdpa returns no weights to check
    assert torch.equal(full.pooler_output[0], plain.pooler_output[0])
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], plain.last_hidden_state)
    model.config.return_dict = False
    try:
        assert isinstance(model.get_image_features(inputs.pixel_values, inputs.image_sizes), tuple)
    finally:
        model.config.return_dict = True


def test_assisted_decoding_with_images_equals_greedy(tokenizer, model, processor):
    assistant = vision_model(tokenizer, seed=1)
    inputs = processor(images=noise_image(672, 1008), text=_prompt(processor), return_tensors="pt")
    greedy = model.generate(**inputs, max_new_tokens=8, min_new_tokens=8, do_sample=False)
    assisted = model.generate(**inputs, max_new_tokens=8, min_new_tokens=8, do_sample=False, assistant_model=assistant)
    assert torch.equal(assisted, greedy)


def test_training_step_reaches_the_projector_tower_and_newline(tokenizer, processor):
    model = vision_model(tokenizer).train()
    model.gradient_checkpointing_enable()
    inputs = processor(images=noise_image(480, 640), text=_prompt(processor), return_tensors="pt")
    loss = model(**inputs, labels=torch.tensor([[5, 9, 2]])).loss
    loss.backward()
    encoder = model.get_encoder()
    for parameter in (
        encoder.multi_modal_projector.linear_1.weight,
        encoder.image_newline,
        encoder.vision_tower.embeddings.patch_embedding.weight,
    ):
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0


def test_text_only_config_has_no_vision_weights():
    text_only = MuForConditionalGeneration(tiny_config())
    names = list(text_only.state_dict())
    assert not any("vision" in name or "projector" in name or "image_newline" in name for name in names)
    vision = vision_model(vision_tokenizer())
    vision_names = set(vision.state_dict())
    assert {"model.encoder.image_newline", "model.encoder.multi_modal_projector.linear_1.weight"} <= vision_names
    assert "model.encoder.vision_tower.embeddings.patch_embedding.weight" in vision_names
    assert vision_names - set(names) == {name for name in vision_names if "encoder.vision_tower" in name} | {
        name for name in vision_names if "multi_modal_projector" in name or "image_newline" in name
    }


def test_vision_config_errors_name_the_field(tokenizer):
    with pytest.raises(ValueError, match="image_token_id"):
        vision_config(tokenizer, image_token_id=None)
    with pytest.raises(ValueError, match="image_token_id"):
        vision_config(tokenizer, image_token_id=len(tokenizer))
    with pytest.raises(ValueError, match="image_grid_pinpoints.*336.*\\[300, 336\\]"):
        vision_config(tokenizer, image_grid_pinpoints=[[336, 336], [300, 336]])
    with pytest.raises(ValueError, match="vision_aspect_ratio"):
        vision_config(tokenizer, vision_aspect_ratio="anyres")
    with pytest.raises(ValueError, match="vision_feature_layer"):
        vision_config(tokenizer, vision_feature_layer=-4)
    default_tower = vision_config(tokenizer, vision_config={}).vision_config
    assert (default_tower.image_size, default_tower.patch_size, default_tower.hidden_size) == (336, 14, 1024)
    assert default_tower.num_hidden_layers == 24


def test_inconsistent_inputs_are_refused(model, processor, tokenizer):
    image = noise_image(336, 336)
    inputs = processor(images=image, text=_prompt(processor), return_tensors="pt")
    unexpanded = tokenizer(_prompt(processor), return_tensors="pt").input_ids
    with pytest.raises(ValueError, match="1 `<image>` placeholder tokens but the images give 1176 features"):
        model(input_ids=unexpanded, pixel_values=inputs.pixel_values, image_sizes=inputs.image_sizes)
    with pytest.raises(ValueError, match="no `pixel_values`"):
        model(input_ids=inputs.input_ids, decoder_input_ids=torch.tensor([[1]]))
    with pytest.raises(ValueError, match="text-only"):
        MuForConditionalGeneration(tiny_config(vocab_size=len(tokenizer))).get_encoder()(
            input_ids=torch.tensor([[4, 5]]), pixel_values=inputs.pixel_values, image_sizes=inputs.image_sizes
        )
    with pytest.raises(ValueError, match="1 images"):
        processor(images=image, text="no placeholder here")
    text_only_processor = vision_processor(vision_tokenizer(with_image_token=False), tiny_config())
    assert text_only_processor.image_token_id is None
    with pytest.raises(ValueError, match="text-only Mu model"):
        text_only_processor(images=image, text="<image> what")
    literal = text_only_processor(text="what does <image> mean")  # plain text for a text-only model
    assert literal.input_ids == text_only_processor.tokenizer("what does <image> mean").input_ids


def test_save_and_reload_give_identical_outputs(tmp_path, model, processor):
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {"model.safetensors", "processor_config.json", "processing_mu.py", "modeling_mu.py"} <= files
    assert "tokenizer.json" in files and any(name.startswith("chat_template") for name in files)
    assert not any(name.endswith((".bin", ".pt")) for name in files)

    reloaded_processor = AutoProcessor.from_pretrained(tmp_path)
    reloaded_model = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert type(reloaded_processor) is MuProcessor and type(reloaded_model) is MuForConditionalGeneration
    assert reloaded_processor.chat_template == processor.chat_template
    image = noise_image(480, 640)
    inputs = processor(images=image, text=_prompt(processor), return_tensors="pt")
    again = reloaded_processor(images=image, text=_prompt(reloaded_processor), return_tensors="pt")
    assert torch.equal(inputs.input_ids, again.input_ids) and torch.equal(inputs.pixel_values, again.pixel_values)
    decoder_ids = torch.tensor([[1, 7, 8]])
    assert torch.equal(
        _teacher_forced_logits(model, inputs, decoder_ids), _teacher_forced_logits(reloaded_model, again, decoder_ids)
    )


def test_remote_code_loads_processor_and_model_without_mu(tmp_path, model, processor):
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    image_path = tmp_path / "image.png"
    noise_image(700, 1000).save(image_path)
    inputs = processor(images=noise_image(700, 1000), text=_prompt(processor), return_tensors="pt")
    expected = _teacher_forced_logits(model, inputs, torch.tensor([[1, 7, 8]]))
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["mu"] = None  # any `import mu` now raises ImportError
        import PIL.Image, torch
        from transformers import AutoModelForImageTextToText, AutoProcessor
        processor = AutoProcessor.from_pretrained({str(model_dir)!r}, trust_remote_code=True)
        model = AutoModelForImageTextToText.from_pretrained({str(model_dir)!r}, trust_remote_code=True).eval()
        assert type(processor).__module__.startswith("transformers_modules."), type(processor).__module__
        question = {{"type": "text", "text": "what is the colour of the sky"}}
        messages = [{{"role": "user", "content": [{{"type": "image"}}, question]}}]
        prompt = processor.apply_chat_template(messages, tokenize=False)
        inputs = processor(images=PIL.Image.open({str(image_path)!r}), text=prompt, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs, decoder_input_ids=torch.tensor([[1, 7, 8]])).logits
        torch.save(logits, {str(tmp_path / "logits.pt")!r})
        """
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt", weights_only=True), expected, atol=1e-6, rtol=1e-5)

import json
import pickle
import random
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    AutoModelForImageTextToText,
    AutoModelForSeq2SeqLM,
    AutoProcessor,
    CLIPVisionConfig,
    CLIPVisionModel,
    PreTrainedTokenizerFast,
)

from mu.cli import main
from mu.convert_mu_original_checkpoint import convert, convert_checkpoint

from .fixtures.reference_weights import seeded_reference_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "reference"
FIXTURE_NAMES = sorted(path.stem for path in FIXTURES.glob("*.safetensors") if path.stem != "full-size")


def write_reference_checkpoint(name: str, path: Path, prefix: str = "") -> tuple[dict, dict]:
    """Rebuilds the reference checkpoint of a fixture (its tied head included): a text `model.pt` at `path`, or a
    vision folder at `path` for the vision reference's language model. Returns the fixture."""
    tensors = load_file(FIXTURES / f"{name}.safetensors")
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    state_dict = {key.removeprefix("state."): value for key, value in tensors.items() if key.startswith("state.")}
    state_dict["lm_head.weight"] = state_dict["transformer.wte.weight"]
    state_dict = {prefix + key: value for key, value in state_dict.items()}
    if meta.get("source", "text") == "vision":
        path.mkdir()
        torch.save(state_dict, path / "pytorch_model.bin")
        (path / "config.json").write_text(json.dumps(meta["model_config"]))
    else:
        torch.save({"model_state_dict": state_dict, "model_config": meta["model_config"]}, path)
    return tensors, meta


def write_tokenizer(folder: Path) -> Path:
    """A word-level tokenizer small enough for the fixtures' 96-token vocabulary."""
    words = "the quick brown fox jumps over a lazy dog".split()
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{word: index + 3 for index, word in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<unk>", bos_token="<s>", eos_token="</s>"
    ).save_pretrained(folder)
    return folder


def test_there_are_fixtures_for_each_case():
    text = {"attention-width-gqa2", "gqa4", "multi-head-ntk", "gqa2-ntk"}
    assert text | {"vision-language-gqa2", "vision-language-gqa4-ntk"} <= set(FIXTURE_NAMES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_converted_model_matches_the_reference(name, tmp_path):
    fixture, meta = write_reference_checkpoint(name, tmp_path / "checkpoint")
    source = meta.get("source", "text")
    model = convert_checkpoint(source, tmp_path / "checkpoint")
    assert model.config.rope_ntk_variant == ("v2" if source == "vision" else "v1")
    assert model.config.lm_head_bias == (source == "vision")
    with torch.no_grad():
        encoder_output = model.get_encoder()(input_ids=fixture["input_ids"]).last_hidden_state
        logits = model(input_ids=fixture["input_ids"], decoder_input_ids=fixture["decoder_input_ids"]).logits
    torch.testing.assert_close(encoder_output, fixture["encoder_output"], atol=1e-5, rtol=0)
    torch.testing.assert_close(logits, fixture["logits"], atol=1e-5, rtol=1e-5)

    generated = model.generate(
        fixture["input_ids"],
        do_sample=False,
        max_new_tokens=meta["max_new_tokens"],
        decoder_start_token_id=meta["bos_token_id"],
        eos_token_id=meta["eos_token_id"],
        pad_token_id=meta["eos_token_id"],  # the reference pads finished rows with EOS
    )
    expected = fixture["greedy"]
    assert torch.equal(generated, expected[:, : generated.shape[1]])
    assert generated.shape[1] == expected.shape[1] or (generated == meta["eos_token_id"]).any(-1).all()


def test_wrapper_prefixes_are_removed(tmp_path):
    fixture, _ = write_reference_checkpoint("gqa4", tmp_path / "model.pt", prefix="module._orig_mod.")
    model = convert_checkpoint("text", tmp_path / "model.pt")
    with torch.no_grad():
        logits = model(input_ids=fixture["input_ids"], decoder_input_ids=fixture["decoder_input_ids"]).logits
    torch.testing.assert_close(logits, fixture["logits"], atol=1e-5, rtol=0)


def test_mu_convert_writes_a_loadable_folder(tmp_path, capsys):
    fixture, _ = write_reference_checkpoint("attention-width-gqa2", tmp_path / "model.pt")
    tokenizer_dir = write_tokenizer(tmp_path / "tokenizer")
    output = tmp_path / "converted"
    main(["convert", "--source", "text", str(tmp_path / "model.pt"), "--tokenizer", str(tokenizer_dir),
          "--output", str(output)])  # fmt: skip
    printed = capsys.readouterr().out
    for file in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "README.md"):
        assert (output / file).is_file(), file
    assert "encoder-decoder-slm" in (output / "README.md").read_text()
    generation = json.loads((output / "generation_config.json").read_text())
    assert (generation["decoder_start_token_id"], generation["eos_token_id"]) == (1, 2)
    model = AutoModelForSeq2SeqLM.from_pretrained(output).eval()
    assert f"{model.num_parameters() / 1e6:.2f}M parameters" in printed
    assert model.config.rope_ntk_variant == "v1" and model.config.attention_hidden_size == 24
    with torch.no_grad():
        logits = model(input_ids=fixture["input_ids"], decoder_input_ids=fixture["decoder_input_ids"]).logits
    torch.testing.assert_close(logits, fixture["logits"], atol=1e-5, rtol=0)


def test_bfloat16_output(tmp_path):
    write_reference_checkpoint("gqa4", tmp_path / "model.pt")
    model = convert_checkpoint("text", tmp_path / "model.pt", dtype=torch.bfloat16)
    assert {parameter.dtype for parameter in model.parameters()} == {torch.bfloat16}


def test_missing_unexpected_and_misshapen_tensors_are_named(tmp_path):
    write_reference_checkpoint("gqa4", tmp_path / "model.pt")
    checkpoint = torch.load(tmp_path / "model.pt", weights_only=True)
    state = checkpoint["model_state_dict"]
    del state["transformer.e.1.mlp.fc2.bias"]
    state["transformer.e.0.attn.extra.weight"] = torch.zeros(2)
    state["transformer.h.0.mlp.fc1.weight"] = torch.zeros(5, 32)
    torch.save(checkpoint, tmp_path / "broken.pt")
    with pytest.raises(ValueError) as error:
        convert_checkpoint("text", tmp_path / "broken.pt")
    message = str(error.value)
    assert "missing: model.encoder.layers.1.mlp.fc2.bias" in message
    assert "unexpected: model.encoder.layers.0.self_attn.extra.weight" in message
    mismatch = "shape mismatch for model.decoder.layers.0.mlp.fc1.weight"
    assert f"{mismatch}: the model expects (48, 32), the checkpoint has (5, 32)" in message


def write_reference_vision_folder(folder: Path, **config_fields) -> tuple[dict, CLIPVisionModel, torch.nn.Module]:
    """The vision reference's layout: a fixture's language model, a CLIP tower under
    `vision_tower.vision_tower.vision_model.`, `mm_projector.{0,2}` and `image_newline`. Returns the fixture, the
    tower and the projector (an `nn.Sequential`, as the reference builds it)."""
    fixture, _ = write_reference_checkpoint("vision-language-gqa2", folder)
    torch.manual_seed(0)
    tower_config = CLIPVisionConfig(
        hidden_size=128,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=336,
        patch_size=14,
    )
    tower = CLIPVisionModel(tower_config).eval()
    projector = torch.nn.Sequential(torch.nn.Linear(128, 32), torch.nn.GELU(), torch.nn.Linear(32, 32))
    state_dict = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state_dict.update({f"vision_tower.vision_tower.vision_model.{k}": v for k, v in tower.state_dict().items()})
    state_dict.update({f"mm_projector.{k}": v for k, v in projector.state_dict().items()})
    state_dict["image_newline"] = torch.randn(32)
    torch.save(state_dict, folder / "pytorch_model.bin")
    config = json.loads((folder / "config.json").read_text())
    config.update(
        {
            "mm_vision_select_layer": -2,
            "mm_projector_type": "mlp2x_gelu",
            "mm_vision_select_feature": "patch",
            "mm_patch_merge_type": "spatial_unpad",
            "image_aspect_ratio": "anyres_max_3",
            "image_grid_pinpoints": [[336, 336], [672, 336]],  # (width, height) in the reference
            **config_fields,
        }
    )
    (folder / "config.json").write_text(json.dumps(config))
    return fixture, tower, projector


def test_vision_checkpoint_converts_tower_projector_and_newline(tmp_path):
    fixture, tower, projector = write_reference_vision_folder(tmp_path / "vision")
    convert("vision", tmp_path / "vision", write_tokenizer(tmp_path / "tokenizer"), tmp_path / "out")

    processor = AutoProcessor.from_pretrained(tmp_path / "out")
    model = AutoModelForImageTextToText.from_pretrained(tmp_path / "out").eval()
    assert (
        model.config.image_token_id == processor.image_token_id == processor.tokenizer.convert_tokens_to_ids("<image>")
    )
    assert model.config.image_grid_pinpoints == [[336, 336], [336, 672]]  # now (height, width)
    assert processor.image_processor.image_grid_pinpoints == [[336, 336], [336, 672]]
    assert model.config.vision_config.num_attention_heads == 2

    image = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 500, 3), dtype=np.uint8))
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the fox"}]}], tokenize=False
    )
    inputs = processor(images=image, text=prompt, return_tensors="pt")
    with torch.no_grad():
        (packed,) = model.get_image_features(inputs.pixel_values, inputs.image_sizes).pooler_output
        # the reference's path for the whole-image tile: CLIP's second-to-last layer without CLS, then the projector
        tile = inputs.pixel_values[0, :1]
        expected = projector(tower(tile, output_hidden_states=True).hidden_states[-2][:, 1:])[0]
        logits = model(input_ids=fixture["input_ids"], decoder_input_ids=fixture["decoder_input_ids"]).logits
    torch.testing.assert_close(packed[:576], expected, atol=1e-5, rtol=1e-5)
    state_dict = torch.load(tmp_path / "vision" / "pytorch_model.bin", weights_only=True)
    assert torch.equal(packed[-1], state_dict["image_newline"])  # each row of the tile grid ends with it
    torch.testing.assert_close(logits, fixture["logits"], atol=1e-5, rtol=1e-5)  # the language model is unchanged


def test_unsupported_vision_settings_are_refused(tmp_path):
    write_reference_vision_folder(tmp_path / "vision", mm_projector_type="linear")
    with pytest.raises(ValueError, match="does not support: {'mm_projector_type': 'linear'}"):
        convert("vision", tmp_path / "vision", write_tokenizer(tmp_path / "tokenizer"), tmp_path / "out")


def test_vision_tensors_without_a_tower_are_refused_by_name(tmp_path):
    write_reference_checkpoint("gqa4", tmp_path / "model.pt")
    checkpoint = torch.load(tmp_path / "model.pt", weights_only=True)
    checkpoint["model_state_dict"]["mm_projector.0.weight"] = torch.zeros(4, 4)
    checkpoint["model_state_dict"]["image_newline"] = torch.zeros(4)
    folder = tmp_path / "vision"
    folder.mkdir()
    torch.save(checkpoint["model_state_dict"], folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({**checkpoint["model_config"], "model_type": "llava_mu"}))
    with pytest.raises(ValueError, match="unexpected: model.encoder.image_newline\n.*unexpected: .*linear_1.weight"):
        convert_checkpoint("vision", folder)


def test_files_that_are_not_reference_checkpoints_are_refused(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(
        ValueError, match="not a reference Mu text checkpoint: expected a dict with 'model_state_dict'"
    ):
        convert_checkpoint("text", tmp_path / "other.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        convert_checkpoint("text", tmp_path / "garbage.pt")
    with pytest.raises(ValueError, match="not a reference Mu vision folder"):
        convert_checkpoint("vision", tmp_path)
    with pytest.raises(ValueError, match="Unknown source 'audio'"):
        convert_checkpoint("audio", tmp_path / "other.pt")


class NeedsCode:
    """An object only a full unpickler can rebuild."""


def test_pickles_that_need_code_execution_are_refused(tmp_path):
    with open(tmp_path / "model.pt", "wb") as file:
        pickle.dump({"model_state_dict": {}, "model_config": NeedsCode()}, file, protocol=2)
    with pytest.raises(ValueError, match="only unpickle by running code"):
        convert_checkpoint("text", tmp_path / "model.pt")


def test_full_size_checkpoint_converts_and_matches_the_reference(tmp_path):
    fixture = load_file(FIXTURES / "full-size.safetensors")
    meta = json.loads((FIXTURES / "full-size.json").read_text())
    state_dict = seeded_reference_state_dict(meta["model_config"], meta["seed"])
    torch.save({"model_state_dict": state_dict, "model_config": meta["model_config"]}, tmp_path / "model.pt")
    del state_dict
    model = convert_checkpoint("text", tmp_path / "model.pt")
    assert f"{model.num_parameters() / 1e6:.2f}M" == "332.04M"
    with torch.no_grad():
        encoder_output = model.get_encoder()(input_ids=fixture["input_ids"]).last_hidden_state
        logits = model(input_ids=fixture["input_ids"], decoder_input_ids=fixture["decoder_input_ids"]).logits
    torch.testing.assert_close(encoder_output[..., :64], fixture["encoder_output"], atol=1e-5, rtol=0)
    torch.testing.assert_close(logits[..., :256], fixture["logits"], atol=1e-5, rtol=0)
    assert torch.equal(logits.argmax(-1), fixture["argmax"])
    generated = model.generate(
        fixture["input_ids"], do_sample=False, max_new_tokens=4, decoder_start_token_id=1, eos_token_id=32000
    )
    assert torch.equal(generated, fixture["greedy"][:, : generated.shape[1]])


def test_push_to_hub_uploads_the_folder_in_one_commit(tmp_path, monkeypatch):
    calls = []

    class RecordingApi:
        def create_repo(self, repo_id, private, exist_ok):
            calls.append(("create_repo", repo_id, exist_ok))

        def upload_folder(self, repo_id, folder_path, revision, commit_message, ignore_patterns):
            calls.append(("upload_folder", repo_id, sorted(path.name for path in Path(folder_path).iterdir())))

    monkeypatch.setattr("mu.hub.HfApi", RecordingApi)
    write_reference_checkpoint("gqa4", tmp_path / "model.pt")
    output = tmp_path / "converted"
    convert("text", tmp_path / "model.pt", write_tokenizer(tmp_path / "tokenizer"), output, push_to_hub="org/mu-tiny")
    assert calls[0] == ("create_repo", "org/mu-tiny", True)
    assert calls[1][:2] == ("upload_folder", "org/mu-tiny")
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(calls[1][2])
    assert len(calls) == 2


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(tmp_path):
    write_reference_checkpoint("gqa4", tmp_path / "model.pt")
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"word{index}": index + 3 for index in range(120)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>").save_pretrained(tmp_path / "tokenizer")
    with pytest.raises(ValueError, match="has 123 tokens, more than the checkpoint's vocabulary \\(96\\)"):
        convert("text", tmp_path / "model.pt", tmp_path / "tokenizer", tmp_path / "converted")
    assert not (tmp_path / "converted").exists()


def test_any_damaged_checkpoint_is_named_as_unreadable(tmp_path):
    # Random bytes make the unpickler fail in many ways (IndexError, KeyError, UnpicklingError, ...): each one is
    # reported the same way, never as a traceback of the unpickler.
    path = tmp_path / "damaged.pt"
    for seed in range(64):
        path.write_bytes(random.Random(seed).randbytes(4096))
        with pytest.raises(ValueError, match="damaged.pt is not a readable PyTorch checkpoint"):
            convert_checkpoint("text", path)

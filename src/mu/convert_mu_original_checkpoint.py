# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Converts checkpoints of the reference Mu code into Hugging Face folders.

The reference is github.com/microsoft/encoder-decoder-slm; a folder holds `config.json`, `model.safetensors`,
`generation_config.json`, the tokenizer and a model card.

- text: a `model.pt` written by the reference's `save_checkpoint`, `{"model_state_dict", "model_config"}`;
- vision: a folder with `config.json` (`model_type: llava_mu`) and `pytorch_model.bin`. Its language model maps
  like the text one (NTK variant v2, LM head bias); its CLIP tower (`vision_tower.vision_tower.vision_model.*`),
  `mm_projector.{0,2}` and `image_newline` go to the encoder's `vision_tower`, `multi_modal_projector` and
  `image_newline`; the tokenizer gains an `<image>` token, and a `MuProcessor` is written.

Files are read with `torch.load(weights_only=True)`: a pickle that needs code execution is refused.
"""

import json
import math
import pickle
import re
from pathlib import Path

import torch

from .configuration_mu import DEFAULT_IMAGE_GRID_PINPOINTS, DEFAULT_VISION_ASPECT_RATIO, MuConfig
from .modeling_mu import MuForConditionalGeneration, checkpoint_fit_error
from .processing_mu import MuProcessor

SOURCES = ("text", "vision")
# prefixes that DistributedDataParallel and torch.compile add to every key
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
IMAGE_TOKEN = "<image>"
# What the reference vision code supports; other values of these `config.json` fields are refused.
REFERENCE_VISION_SETTINGS = {
    "mm_projector_type": "mlp2x_gelu",
    "mm_vision_select_feature": "patch",
    "mm_patch_merge_type": "spatial_unpad",
}

_LAYER = r"transformer\.{stack}\.(\d+)\."
KEY_MAPPING = [
    (r"vision_tower\.vision_tower\.vision_model\.", "model.encoder.vision_tower."),
    (r"mm_projector\.0\.", "model.encoder.multi_modal_projector.linear_1."),
    (r"mm_projector\.2\.", "model.encoder.multi_modal_projector.linear_2."),
    (r"image_newline$", "model.encoder.image_newline"),
    (r"transformer\.wte\.weight", "model.shared.weight"),
    (_LAYER.format(stack="e") + r"ln1\.", r"model.encoder.layers.\1.pre_self_attn_layernorm."),
    (_LAYER.format(stack="e") + r"ln2\.", r"model.encoder.layers.\1.pre_feedforward_layernorm."),
    (_LAYER.format(stack="e") + r"attn\.", r"model.encoder.layers.\1.self_attn."),
    (_LAYER.format(stack="e") + r"mlp\.", r"model.encoder.layers.\1.mlp."),
    (r"transformer\.ln_e\.", "model.encoder.norm."),
    (_LAYER.format(stack="h") + r"ln1\.", r"model.decoder.layers.\1.pre_self_attn_layernorm."),
    (_LAYER.format(stack="h") + r"ln2\.", r"model.decoder.layers.\1.pre_cross_attn_layernorm."),
    (_LAYER.format(stack="h") + r"ln3\.", r"model.decoder.layers.\1.pre_feedforward_layernorm."),
    (_LAYER.format(stack="h") + r"causal_attn\.", r"model.decoder.layers.\1.self_attn."),
    (_LAYER.format(stack="h") + r"cross_attn\.", r"model.decoder.layers.\1.cross_attn."),
    (_LAYER.format(stack="h") + r"mlp\.", r"model.decoder.layers.\1.mlp."),
    (r"transformer\.ln_f\.", "model.decoder.norm."),
    (r"(self_attn|cross_attn)\.(q|k|v)_linear\.", r"\1.\2_proj."),
    (r"(self_attn|cross_attn)\.out_linear\.", r"\1.o_proj."),
]


def rename_key(key: str) -> str:
    """The Mu name of a reference tensor name (wrapper prefixes removed)."""
    for prefix in WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix) :]
    for pattern, replacement in KEY_MAPPING:
        anchored = pattern.startswith(("transformer", "vision_tower", "mm_projector", "image_newline"))
        key = re.sub(f"^{pattern}" if anchored else pattern, replacement, key)
    return key


def _safe_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # The weights-only unpickler names a class it refuses as an "Unsupported global"; anything else is damage.
        if "Unsupported global" not in str(error):
            raise ValueError(
                f"{path} is not a readable PyTorch checkpoint (corrupt, or not written by torch.save)."
            ) from error
        raise ValueError(
            f"{path} holds Python objects that only unpickle by running code, which this converter refuses "
            f"(torch.load(weights_only=True)). Re-save it with plain tensors and dicts. Detail: "
            f"{str(error).splitlines()[0]}"
        ) from error
    except Exception as error:  # on damaged bytes the unpickler fails with any error type (IndexError, KeyError...)
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {detail}") from error


def load_text_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict and the `model_config` of a reference text checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a file: --source text expects the reference's model.pt.")
    checkpoint = _safe_load(path)
    if not isinstance(checkpoint, dict) or not {"model_state_dict", "model_config"} <= checkpoint.keys():
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(
            f"{path} is not a reference Mu text checkpoint: expected a dict with 'model_state_dict' and "
            f"'model_config', found {found}."
        )
    return checkpoint["model_state_dict"], checkpoint["model_config"]


def load_vision_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict and the `config.json` of a reference vision folder."""
    path = Path(path)
    config_file, weights_file = path / "config.json", path / "pytorch_model.bin"
    if not config_file.is_file() or not weights_file.is_file():
        raise ValueError(
            f"{path} is not a reference Mu vision folder: expected config.json and pytorch_model.bin in it."
        )
    config = json.loads(config_file.read_text())
    if config.get("model_type") != "llava_mu":
        raise ValueError(
            f"{config_file} has model_type {config.get('model_type')!r}; a reference Mu vision folder has 'llava_mu'."
        )
    state_dict = _safe_load(weights_file)
    if not isinstance(state_dict, dict):
        raise ValueError(f"{weights_file} does not hold a state dict but a {type(state_dict).__name__}.")
    return state_dict, config


def config_from_reference(
    reference: dict,
    state_dict: dict[str, torch.Tensor],
    source: str,
    image_token_id: int | None = None,
    tokenizer=None,
) -> MuConfig:
    """A `MuConfig` from the reference's `model_config` (text) or `config.json` (vision). The reference config has
    no special token ids: they are the tokenizer's, or without one `MuConfig`'s defaults (Phi-3's) where they fit the
    vocabulary (the padding id is the reference's)."""
    required = ("n_encoder_layer", "n_decoder_layer", "n_embd", "hidden_dim", "n_head", "n_kv_head", "vocab_size")
    missing = [name for name in required if reference.get(name) is None]
    if missing:
        raise ValueError(f"The reference config lacks {missing}; it is not a Mu checkpoint config.")
    keys = {rename_key(key) for key in state_dict}
    vision_fields = vision_config_from_reference(reference, state_dict, image_token_id) if source == "vision" else {}
    return MuConfig(
        vocab_size=reference["vocab_size"],
        hidden_size=reference["n_embd"],
        attention_hidden_size=reference.get("qkv_embd") or reference["n_embd"],
        intermediate_size=reference["hidden_dim"],
        encoder_layers=reference["n_encoder_layer"],
        decoder_layers=reference["n_decoder_layer"],
        num_attention_heads=reference["n_head"],
        num_key_value_heads=reference["n_kv_head"],
        max_position_embeddings=reference.get("block_size", 1024),
        rope_theta=reference.get("rope_theta", 10000),
        rope_scaling_factor=reference.get("rope_factor", 1.0),
        rope_ntk_variant="v1" if source == "text" else "v2",
        dropout=reference.get("dropout", 0.1),
        attention_dropout=reference.get("dropout", 0.1),
        **_special_token_ids(reference, tokenizer),
        lm_head_bias="lm_head.bias" in keys,
        tie_word_embeddings=_head_is_tied(state_dict),
        **vision_fields,
    )


def _special_token_ids(reference: dict, tokenizer) -> dict[str, int | None]:
    ids = {name: getattr(MuConfig, name) for name in ("bos_token_id", "eos_token_id")}
    if tokenizer is not None:
        ids.update({name: getattr(tokenizer, name) for name in ids if getattr(tokenizer, name) is not None})
    ids["decoder_start_token_id"] = ids["bos_token_id"]
    ids["pad_token_id"] = reference.get("pad_token_id", 0)
    return {name: i if i is None or i < reference["vocab_size"] else None for name, i in ids.items()}


def vision_config_from_reference(
    reference: dict, state_dict: dict[str, torch.Tensor], image_token_id: int | None
) -> dict:
    """The `MuConfig` vision fields of a reference vision checkpoint: the CLIP tower's sizes read from its tensors
    (OpenAI CLIP towers use 64-wide heads), the feature layer and the tiling from `config.json`, and the id of the
    tokenizer's `<image>` token. Empty when the checkpoint holds the language model only."""
    tower = {
        rename_key(key).removeprefix("model.encoder.vision_tower."): tensor
        for key, tensor in state_dict.items()
        if rename_key(key).startswith("model.encoder.vision_tower.")
    }
    if not tower:
        return {}
    unsupported = {
        name: reference.get(name)
        for name, value in REFERENCE_VISION_SETTINGS.items()
        if reference.get(name, value) != value
    }
    if unsupported:
        raise ValueError(
            f"The reference vision config has settings this converter does not support: {unsupported} "
            f"(supported: {REFERENCE_VISION_SETTINGS})."
        )
    if image_token_id is None:
        raise ValueError(f"Converting a vision tower needs the tokenizer, to give it an {IMAGE_TOKEN} token.")
    try:
        hidden_size, _, patch_size, _ = tower["embeddings.patch_embedding.weight"].shape
        num_positions = tower["embeddings.position_embedding.weight"].shape[0]
        intermediate_size = tower["encoder.layers.0.mlp.fc1.weight"].shape[0]
    except KeyError as error:
        raise ValueError(f"The vision tower lacks {error.args[0]}: it is not a CLIP vision tower.") from None
    num_layers = len({key.split(".")[2] for key in tower if key.startswith("encoder.layers.")})
    # the reference lists its grid pinpoints as (width, height); MuConfig's are (height, width)
    pinpoints = reference.get("image_grid_pinpoints") or DEFAULT_IMAGE_GRID_PINPOINTS
    if not isinstance(pinpoints, list) or not all(isinstance(p, list) and len(p) == 2 for p in pinpoints):
        raise ValueError(
            f"The reference `image_grid_pinpoints` must be a list of [width, height] pairs, got {pinpoints!r}."
        )
    return {
        "vision_config": {
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_layers,
            "num_attention_heads": max(hidden_size // 64, 1),
            "patch_size": patch_size,
            "image_size": math.isqrt(num_positions - 1) * patch_size,
        },
        "vision_feature_layer": reference.get("mm_vision_select_layer", -2),
        "image_grid_pinpoints": [[height, width] for width, height in pinpoints],
        "vision_aspect_ratio": reference.get("image_aspect_ratio", DEFAULT_VISION_ASPECT_RATIO),
        "image_token_id": image_token_id,
    }


def _head_is_tied(state_dict: dict[str, torch.Tensor]) -> bool:
    tensors = {rename_key(key): value for key, value in state_dict.items()}
    head, embedding = tensors.get("lm_head.weight"), tensors.get("model.shared.weight")
    return head is None or (embedding is not None and head.shape == embedding.shape and torch.equal(head, embedding))


def _interleave_heads(weight: torch.Tensor, num_heads: int, num_key_value_heads: int, dim: int) -> torch.Tensor:
    """Reorders query heads from the reference order, where query head h reads key/value head `h % kv_heads`
    (`cat([kv] * groups)`), to transformers' order, where it reads `h // groups` (`repeat_kv`)."""
    groups = num_heads // num_key_value_heads
    order = [
        group * num_key_value_heads + kv_head for kv_head in range(num_key_value_heads) for group in range(groups)
    ]
    head_dim = weight.shape[dim] // num_heads
    blocks = weight.unflatten(dim, (num_heads, head_dim))
    return blocks.index_select(dim, torch.tensor(order)).flatten(dim, dim + 1)


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], config: MuConfig, interleaved_heads: bool
) -> dict[str, torch.Tensor]:
    """Renames the reference tensors, drops the duplicates of tied weights, and reorders grouped-query heads unless
    the checkpoint already used the interleaved order."""
    converted = {}
    for key, tensor in state_dict.items():
        name = rename_key(key)
        if name.endswith("embeddings.position_ids"):  # a buffer older CLIP code saved; rebuilt by the model
            continue
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        if not interleaved_heads and config.num_attention_heads != config.num_key_value_heads:
            if re.search(r"attn\.q_proj\.(weight|bias)$", name):
                tensor = _interleave_heads(tensor, config.num_attention_heads, config.num_key_value_heads, dim=0)
            elif re.search(r"attn\.o_proj\.weight$", name):
                tensor = _interleave_heads(tensor, config.num_attention_heads, config.num_key_value_heads, dim=1)
        converted[name] = tensor
    return converted


def check_tensors(model: MuForConditionalGeneration, state_dict: dict[str, torch.Tensor]) -> None:
    """Refuses missing, unexpected and misshapen tensors, naming each."""
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    tied = {"model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"}
    if model.config.tie_word_embeddings:
        tied.add("lm_head.weight")
    error = checkpoint_fit_error(
        "The checkpoint",
        model,
        missing=sorted(expected.keys() - state_dict.keys() - tied),
        unexpected=sorted(state_dict.keys() - expected.keys()),
        mismatched=[
            (name, tuple(tensor.shape), expected[name])
            for name, tensor in sorted(state_dict.items())
            if name in expected and tuple(tensor.shape) != expected[name]
        ],
    )
    if error is not None:
        raise error


def convert_checkpoint(
    source: str, path: str | Path, dtype: torch.dtype = torch.float32, tokenizer=None
) -> MuForConditionalGeneration:
    """A `MuForConditionalGeneration` with the weights of a reference checkpoint. A vision checkpoint with a tower
    needs its `tokenizer`, which gains an `<image>` token if it has none (the reference splices images in at a
    `-200` sentinel id instead)."""
    if source not in SOURCES:
        raise ValueError(f"Unknown source {source!r}; choose one of {SOURCES}.")
    loader = load_text_checkpoint if source == "text" else load_vision_checkpoint
    state_dict, reference_config = loader(path)
    image_token_id = None
    if (
        source == "vision"
        and tokenizer is not None
        and any(rename_key(key).startswith("model.encoder.vision_tower.") for key in state_dict)
    ):
        if IMAGE_TOKEN not in tokenizer.get_vocab():
            tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
        image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    config = config_from_reference(reference_config, state_dict, source, image_token_id, tokenizer)
    model = MuForConditionalGeneration(config)
    # the text reference repeats key/value heads with `cat` unless `is_interleaved`; the vision one always interleaves
    interleaved_heads = bool(reference_config.get("is_interleaved", source == "vision"))
    converted = convert_state_dict(state_dict, config, interleaved_heads)
    check_tensors(model, converted)
    model.load_state_dict(converted, strict=False)
    return model.to(dtype).eval()


def write_model_card(output_dir: Path, source: str, path: Path, model: MuForConditionalGeneration) -> None:
    from .model_card import build_model_card

    card = build_model_card(
        model,
        title=f"Mu ({source}), converted from a reference checkpoint",
        summary=f"Converted with `mu convert --source {source}` from the reference checkpoint `{path.name}` of "
        "[microsoft/encoder-decoder-slm](https://github.com/microsoft/encoder-decoder-slm).",
    )
    card.save(output_dir / "README.md")


def convert(
    source: str,
    path: str | Path,
    tokenizer_dir: str | Path,
    output_dir: str | Path,
    dtype: torch.dtype = torch.float32,
    push_to_hub: str | None = None,
) -> MuForConditionalGeneration:
    """Writes the Hugging Face folder of a reference checkpoint (and uploads it in one commit if `push_to_hub`);
    returns the converted model."""
    from transformers import AutoTokenizer

    path, output_dir = Path(path), Path(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = convert_checkpoint(source, path, dtype, tokenizer)
    if len(tokenizer) > model.config.vocab_size:
        raise ValueError(
            f"The tokenizer in {tokenizer_dir} has {len(tokenizer)} tokens, more than the checkpoint's vocabulary "
            f"({model.config.vocab_size}): it is not the tokenizer this model was trained with."
        )
    # the reference decodes from the tokenizer's BOS and stops at its EOS
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if getattr(tokenizer, name) is not None:
            setattr(model.generation_config, name, getattr(tokenizer, name))
    if tokenizer.bos_token_id is not None:
        model.generation_config.decoder_start_token_id = tokenizer.bos_token_id

    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir, max_shard_size="2GB")
    MuProcessor.from_model_config(model.config, tokenizer).save_pretrained(output_dir)
    write_model_card(output_dir, source, path, model)
    if push_to_hub:
        from .hub import push_folder

        push_folder(output_dir, push_to_hub, commit_message=f"Mu converted from {path.name}")
    return model

# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Mu model configuration."""

import copy
import re

from huggingface_hub.dataclasses import strict
from transformers.configuration_utils import PreTrainedConfig, SubConfigSpec
from transformers.models.clip.configuration_clip import CLIPVisionConfig

ROPE_NTK_VARIANTS = ("v1", "v2")

# The reference vision tower, CLIP ViT-L/14 at 336 px: the defaults of a `vision_config` given as a dict.
CLIP_VIT_L_14_336 = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "projection_dim": 768,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 336,
    "patch_size": 14,
}
# The reference's `anyres` tilings of 336-px tiles, as (height, width).
DEFAULT_IMAGE_GRID_PINPOINTS = [[336, 336], [672, 672], [1008, 672], [672, 1008]]
DEFAULT_VISION_ASPECT_RATIO = "anyres_max_3"


def max_num_image_tiles(vision_aspect_ratio: str) -> int:
    """The N of `"anyres_max_N"`: about how many tiles' worth of features an image keeps (config and processor)."""
    match = re.fullmatch(r"anyres_max_([1-9][0-9]*)", vision_aspect_ratio)
    if match is None:
        raise ValueError(f"`vision_aspect_ratio` must look like 'anyres_max_3', got {vision_aspect_ratio!r}.")
    return int(match[1])


@strict
class MuConfig(PreTrainedConfig):
    r"""
    Configuration of a Mu encoder-decoder model. The defaults are the 330M text model of "Return of the Encoder"
    (arXiv 2501.16273): a 20-layer encoder and a 10-layer decoder sharing one embedding, tied to the LM head.

    Args:
        vocab_size (`int`, defaults to 32128): Size of the shared vocabulary.
        hidden_size (`int`, defaults to 1024): Width of the residual stream (the reference's `n_embd`).
        attention_hidden_size (`int`, *optional*, defaults to 384): Width of the attention projections, so
            `num_attention_heads * head_dim` (the reference's `qkv_embd`). `None` means `hidden_size`.
        intermediate_size (`int`, defaults to 4096): Width of the MLP (`fc1` output).
        encoder_layers (`int`, defaults to 20): Number of encoder blocks.
        decoder_layers (`int`, defaults to 10): Number of decoder blocks.
        num_attention_heads (`int`, defaults to 6): Query heads per attention layer.
        num_key_value_heads (`int`, defaults to 3): Key/value heads (grouped-query attention).
        hidden_act (`str`, defaults to `"gelu_pytorch_tanh"`): MLP activation.
        rms_norm_eps (`float`, defaults to 1e-6): Epsilon of the RMS norms.
        max_position_embeddings (`int`, defaults to 1024): Length the model was trained on (the reference's
            `block_size`); NTK scaling starts beyond it.
        rope_theta (`float`, defaults to 10000.0): RoPE base.
        rope_scaling_factor (`float`, defaults to 1.0): NTK scaling factor; 1.0 disables scaling.
        rope_ntk_variant (`str`, defaults to `"v1"`): How the RoPE base grows with the sequence length `L` beyond
            `max_position_embeddings`, with `s = factor * L / max_position_embeddings - (factor - 1)`: `"v1"` (the
            text reference) uses `base * s ** (d / (d - 2))`, `"v2"` (the vision reference) uses `base * s`.
        attention_bias (`bool`, defaults to `True`): Bias on the attention projections.
        mlp_bias (`bool`, defaults to `True`): Bias on the MLP projections.
        lm_head_bias (`bool`, defaults to `False`): Bias on the LM head (the vision checkpoints have one).
        dropout (`float`, defaults to 0.1): Dropout on the MLP output during training.
        attention_dropout (`float`, defaults to 0.1): Dropout on the attention probabilities during training.
        initializer_range (`float`, defaults to 0.02): Standard deviation of the weight initialisation.
        vision_config (`dict` or `CLIPVisionConfig`, *optional*): The image tower of the vision variant; a dict
            overrides the reference tower, CLIP ViT-L/14 at 336 px. `None` (the default) makes a text-only model
            without vision weights.
        image_token_id (`int`, *optional*): Id of the `<image>` placeholder whose positions in the encoder input
            receive the image features. Required with `vision_config`.
        vision_feature_layer (`int`, defaults to -2): Hidden state of the tower that feeds the projector (its
            patch positions; the CLS position is dropped, as the tiles are packed on the patch grid).
        projector_hidden_act (`str`, defaults to `"gelu"`): Activation between the projector's two linears.
        multimodal_projector_bias (`bool`, defaults to `True`): Bias on the projector's linears.
        image_grid_pinpoints (`list[list[int]]`, *optional*): The (height, width) resolutions a large image is
            tiled to; defaults to 1×1, 2×2, 3×2 and 2×3 tiles of the tower's image size.
        vision_aspect_ratio (`str`, defaults to `"anyres_max_3"`): `"anyres_max_N"`: the tiles' features are
            unpadded and, when they exceed N tiles' worth, downsampled to about N tiles (LLaVA-OneVision's packing).

    A decoder-only config (`is_encoder_decoder=False`, made by [`~MuConfig.decoder_only`] for the
    [`MuForCausalLM`] twin) has a single causal stack of `num_hidden_layers` (alias of `encoder_layers`) blocks.

    ```python
    >>> from mu import MuConfig, MuForConditionalGeneration

    >>> model = MuForConditionalGeneration(MuConfig())  # the paper's 330M layout, random weights
    ```"""

    model_type = "mu"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"num_hidden_layers": "encoder_layers"}
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=CLIPVisionConfig, init_kwargs=CLIP_VIT_L_14_336, optional=True)
    }

    vocab_size: int = 32128
    hidden_size: int = 1024
    attention_hidden_size: int | None = 384
    intermediate_size: int = 4096
    encoder_layers: int = 20
    decoder_layers: int = 10
    num_attention_heads: int = 6
    num_key_value_heads: int = 3
    hidden_act: str = "gelu_pytorch_tanh"
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 1024
    rope_theta: float | int = 10000.0
    rope_scaling_factor: float | int = 1.0
    rope_ntk_variant: str = "v1"
    attention_bias: bool = True
    mlp_bias: bool = True
    lm_head_bias: bool = False
    dropout: float | int = 0.1
    attention_dropout: float | int = 0.1
    initializer_range: float = 0.02
    use_cache: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 32000
    decoder_start_token_id: int | None = 1
    is_encoder_decoder: bool = True
    tie_word_embeddings: bool = True
    vision_config: dict | PreTrainedConfig | None = None
    image_token_id: int | None = None
    vision_feature_layer: int = -2
    projector_hidden_act: str = "gelu"
    multimodal_projector_bias: bool = True
    image_grid_pinpoints: list | None = None
    vision_aspect_ratio: str = DEFAULT_VISION_ASPECT_RATIO

    def __post_init__(self, **kwargs):
        if self.attention_hidden_size is None:
            self.attention_hidden_size = self.hidden_size
        if isinstance(self.vision_config, dict):
            self.vision_config = CLIPVisionConfig(**{**CLIP_VIT_L_14_336, **self.vision_config})
        if self.vision_config is not None and self.image_grid_pinpoints is None:
            self.image_grid_pinpoints = copy.deepcopy(DEFAULT_IMAGE_GRID_PINPOINTS)
        # Checked here rather than only in `validate_architecture`, which `@strict` would re-raise as a
        # non-`ValueError`: a bad value is a `ValueError` that names the field, as everywhere in transformers.
        self.validate_architecture()
        super().__post_init__(**kwargs)

    @property
    def head_dim(self) -> int:
        return self.attention_hidden_size // self.num_attention_heads

    @property
    def max_num_image_tiles(self) -> int:
        """The N of `vision_aspect_ratio="anyres_max_N"`."""
        return max_num_image_tiles(self.vision_aspect_ratio)

    def decoder_only(self) -> "MuConfig":
        """The config of the decoder-only twin: the same blocks and widths, with the encoder's and the decoder's
        layers in one causal stack of `encoder_layers + decoder_layers` blocks. A decoder-only config is returned
        unchanged."""
        if not self.is_encoder_decoder:
            return self
        twin = copy.deepcopy(self)
        twin.is_encoder_decoder = False
        twin.num_hidden_layers = self.encoder_layers + self.decoder_layers
        return twin

    def validate_architecture(self):
        """Part of `@strict` validation: every size must be usable, and the heads must tile the attention width."""
        for name in (
            "vocab_size",
            "hidden_size",
            "attention_hidden_size",
            "intermediate_size",
            "encoder_layers",
            "decoder_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "max_position_embeddings",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        if self.attention_hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`attention_hidden_size` ({self.attention_hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"`num_attention_heads` ({self.num_attention_heads}) must be divisible by `num_key_value_heads` "
                f"({self.num_key_value_heads})."
            )
        if self.head_dim % 2 != 0:
            raise ValueError(
                "RoPE needs an even head dimension, but `attention_hidden_size / num_attention_heads` is "
                f"{self.head_dim}."
            )
        if self.rope_theta <= 0:
            raise ValueError(f"`rope_theta` must be positive, got {self.rope_theta}.")
        if self.rope_scaling_factor < 1.0:
            raise ValueError(
                f"`rope_scaling_factor` must be >= 1.0 (1.0 disables NTK scaling), got {self.rope_scaling_factor}."
            )
        if self.rope_ntk_variant not in ROPE_NTK_VARIANTS:
            raise ValueError(f"`rope_ntk_variant` must be one of {ROPE_NTK_VARIANTS}, got {self.rope_ntk_variant!r}.")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)}.")
        if self.rms_norm_eps <= 0:
            raise ValueError(f"`rms_norm_eps` must be positive, got {self.rms_norm_eps}.")
        from transformers.activations import ACT2FN  # imports torch, which a configuration module does not

        for name in ("hidden_act", "projector_hidden_act"):
            if getattr(self, name) not in ACT2FN:
                raise ValueError(f"`{name}` {getattr(self, name)!r} is not one of transformers' activations (ACT2FN).")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
            ids = getattr(self, name)
            bad = [
                i for i in (ids if isinstance(ids, list) else [ids]) if i is not None and not 0 <= i < self.vocab_size
            ]
            if bad:
                raise ValueError(
                    f"`{name}` {ids} is outside the vocabulary [0, vocab_size={self.vocab_size}): pass the "
                    f"tokenizer's id (e.g. `{name}=tokenizer.{name}`)."
                )
        if self.vision_config is not None:
            self._validate_vision()

    def _validate_vision(self):
        """The vision fields must describe a tower, a placeholder token and a tiling the model can pack."""
        if self.image_token_id is None or not 0 <= self.image_token_id < self.vocab_size:
            raise ValueError(
                f"`image_token_id` must be the id of the `<image>` token, in [0, vocab_size={self.vocab_size}), when "
                f"`vision_config` is set; got {self.image_token_id}."
            )
        max_num_image_tiles(self.vision_aspect_ratio)
        num_tower_states = self.vision_config.num_hidden_layers + 1
        if not -num_tower_states <= self.vision_feature_layer < num_tower_states:
            raise ValueError(
                f"`vision_feature_layer` must index one of the tower's {num_tower_states} hidden states, got "
                f"{self.vision_feature_layer}."
            )
        tile = self.vision_config.image_size
        if tile % self.vision_config.patch_size != 0:
            raise ValueError(
                f"The vision tower's `image_size` ({tile}) must be a multiple of its `patch_size` "
                f"({self.vision_config.patch_size})."
            )
        bad_pinpoints = [
            pinpoint
            for pinpoint in self.image_grid_pinpoints
            if len(pinpoint) != 2 or any(side <= 0 or side % tile for side in pinpoint)
        ]
        if not self.image_grid_pinpoints or bad_pinpoints:
            raise ValueError(
                f"`image_grid_pinpoints` must be a non-empty list of (height, width) multiples of the tower's image "
                f"size {tile}; bad entries: {bad_pinpoints or self.image_grid_pinpoints}."
            )


__all__ = ["MuConfig"]

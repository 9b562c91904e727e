# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""Processor of Mu: the tokenizer, LLaVA-OneVision's image processor and the reference prompt template."""

import itertools
import math
import os

import numpy as np
from transformers.image_processing_utils import select_best_resolution
from transformers.processing_utils import ProcessorMixin
from transformers.utils import is_vision_available

from .configuration_mu import DEFAULT_VISION_ASPECT_RATIO, max_num_image_tiles

if is_vision_available():
    import PIL.Image
    import PIL.ImageOps
    from transformers.image_utils import load_image, make_flat_list_of_images
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

# This file also travels alone in saved folders (remote code), hence its own copy of the extra's name.
VISION_EXTRA_MESSAGE = 'MuProcessor and Mu\'s image functions need Pillow: pip install "mu[vision]" (or pillow)'

_TIFF_BITS_PER_SAMPLE = 258  # the tag of TIFF's BitsPerSample


def _require_pillow() -> None:
    if not is_vision_available():
        raise ImportError(VISION_EXTRA_MESSAGE)


# The reference's `mu_v1` conversation renders an image question as
# "Answer the following question based only on the context.\n###Question: \n{question}\n###Context: <image>"
# (the `<image>` of "<image>\n{question}" moved to the end); a text-only message is rendered as it is, so text
# prompts keep their own format (e.g. `mu.format_qa_prompt`). Mu answers one question: a single user message.
MU_CHAT_TEMPLATE = (
    "{%- set users = messages | selectattr('role', 'equalto', 'user') | list -%}"
    "{%- if users | length != 1 or messages | length != 1 -%}"
    "{{ raise_exception('Mu answers a single question: give exactly one user message (no system or assistant "
    "messages).') }}"
    "{%- endif -%}"
    "{%- set content = users[0]['content'] -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- else -%}"
    "{%- set texts = content | selectattr('type', 'equalto', 'text') | map(attribute='text') | list -%}"
    "{%- set num_images = content | selectattr('type', 'equalto', 'image') | list | length -%}"
    "{%- if num_images == 0 -%}{{ texts | join('\\n') }}"
    "{%- else -%}"
    "{{ 'Answer the following question based only on the context.\\n###Question: \\n' }}"
    "{{- texts | join('\\n') }}{{ '\\n###Context: ' }}{{ '<image>' * num_images }}"
    "{%- endif -%}"
    "{%- endif -%}"
)


def open_image(source: str) -> "PIL.Image.Image":
    """Opens an image file (or a URL / base64 string, through transformers' `load_image`), turned upright by its
    EXIF orientation, with a `ValueError` naming the source when it cannot be read."""
    _require_pillow()
    try:
        # Pillow tries its plugins in the order they were imported: a guessing one (TGA) imported first, by opening a
        # .tga, would claim other formats' files (e.g. an .ico), so register all of them in their standard order.
        PIL.Image.init()
        if not os.path.isfile(source):
            return load_image(source)
        image = PIL.Image.open(source)
        image.load()
        PIL.ImageOps.exif_transpose(image, in_place=True)  # in place: a copy would lose the TIFF's bit depth
        return image
    # Pillow's plugins raise all sorts of errors on malformed data (struct.error, IndexError, NotImplementedError...).
    except Exception as error:
        raise ValueError(f"Cannot read the image {source!r}: {error}") from error


def normalized_image(image, index: int = 0):
    """
    An image the image processor can take without a silent wrong answer: decoded (corrupt or truncated data is an
    error), not empty, with integer pixels deeper than 8 bits scaled by their format's range (see `_sample_maximum`;
    PIL's RGB conversion would clip them at 255) and transparency composited onto white. Other modes (grayscale,
    palette, CMYK, ...) are converted to RGB by the image processor; an animated image gives its first frame.
    """
    _require_pillow()
    if isinstance(image, PIL.Image.Image):
        return _normalized_pil_image(image, index)
    shape = tuple(getattr(image, "shape", ()))
    if 0 in shape:
        raise ValueError(f"Image {index} is empty (shape {shape}).")
    dtype = getattr(image, "dtype", None)
    if dtype is not None and not (str(dtype).endswith("uint8") or "float" in str(dtype)):
        raise ValueError(f"Image {index} has {dtype} pixels: give uint8 (0-255) or float (0-1) arrays.")
    return image


def _normalized_pil_image(image: "PIL.Image.Image", index: int) -> "PIL.Image.Image":
    try:
        image.load()
    except Exception as error:  # as in `open_image`: any error of a plugin on malformed data
        raise ValueError(f"Image {index} cannot be decoded (corrupt or truncated data): {error}") from error
    if image.width == 0 or image.height == 0:
        raise ValueError(f"Image {index} is empty ({image.width}x{image.height} pixels).")
    if image.mode == "F":
        raise ValueError(f"Image {index} has float pixels (PIL mode 'F') of unknown range: convert it to 8-bit.")
    if image.mode.startswith("I"):
        image = _to_eight_bits(image, index)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")  # PIL turns a transparent colour (modes 1, L, RGB, P) into alpha
        return PIL.Image.alpha_composite(PIL.Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image


def _sample_maximum(image: "PIL.Image.Image") -> int:
    """
    The largest sample of an integer (mode `I` or `I;16`) image's format, never read from its pixels: 2**bits - 1
    for an opened TIFF (its BitsPerSample, e.g. 4095 for 12 bits), else 65535: PNG stores its 16-bit samples at full
    range (an sBIT chunk only records the original depth), Pillow scales PGM samples from their maxval to 0-65535,
    and an image of unknown source is taken as 16-bit.
    """
    bits = getattr(image, "tag_v2", {}).get(_TIFF_BITS_PER_SAMPLE)
    if bits:
        return 2 ** max(bits) - 1
    return 65535


def _to_eight_bits(image: "PIL.Image.Image", index: int) -> "PIL.Image.Image":
    """An integer grayscale image as 8-bit `L` (`LA` when a sample value is marked transparent)."""
    samples = np.asarray(image, dtype=np.int64)
    maximum = _sample_maximum(image)
    if samples.min(initial=0) < 0 or samples.max(initial=0) > maximum:
        raise ValueError(
            f"Image {index} has pixels outside the range of its {maximum.bit_length()}-bit samples (0-{maximum}): "
            "convert it to 8-bit."
        )
    grey = np.round(samples * (255 / maximum)).astype(np.uint8)
    transparency = image.info.get("transparency")
    if transparency is None:
        return PIL.Image.fromarray(grey)
    alpha = np.where(samples == transparency, 0, 255).astype(np.uint8)
    return PIL.Image.fromarray(np.stack([grey, alpha], axis=-1))


class MuProcessor(ProcessorMixin):
    r"""
    Prepares text and images for [`MuForConditionalGeneration`]: the tokenizer, and transformers' LLaVA-OneVision
    image processor (the reference's `anyres` tiling: the whole image resized to one tile, then the image resized
    into the best grid of tiles, padded with black, and cut). Each `<image>` in the text is expanded to as many
    placeholder tokens as the model packs features for that image.

    Args:
        image_processor ([`LlavaOnevisionImageProcessorPil`] or [`LlavaOnevisionImageProcessor`]):
            Tiles and normalises the images; its `size` is the tower's tile and its `image_grid_pinpoints` the
            model's.
        tokenizer ([`PreTrainedTokenizerBase`]): The model's tokenizer. Without an `image_token` in its vocabulary
            the processor serves text-only models and refuses images.
        chat_template (`str`, *optional*): Jinja template of [`~ProcessorMixin.apply_chat_template`]; defaults to
            the reference prompt format.
        image_token (`str`, defaults to `"<image>"`): The placeholder of an image in the text.
        patch_size (`int`, defaults to 14): Patch size of the vision tower.
        vision_aspect_ratio (`str`, defaults to `"anyres_max_3"`): The model's `vision_aspect_ratio`.
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        chat_template: str | None = None,
        image_token: str = "<image>",
        patch_size: int = 14,
        vision_aspect_ratio: str = DEFAULT_VISION_ASPECT_RATIO,
        **kwargs,
    ):
        _require_pillow()
        self.image_token_id = tokenizer.get_vocab().get(image_token)
        # without the token in the vocabulary, "<image>" in a text-only prompt is plain text, not a placeholder
        self.image_token = image_token if self.image_token_id is not None else None
        self.patch_size = patch_size
        self.vision_aspect_ratio = vision_aspect_ratio
        super().__init__(image_processor, tokenizer, chat_template=chat_template or MU_CHAT_TEMPLATE)

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> "MuProcessor":
        _require_pillow()  # before transformers tries to load the image processor
        return super().from_pretrained(*args, **kwargs)

    @classmethod
    def from_model_config(cls, config, tokenizer, image_processor=None) -> "MuProcessor":
        """The processor matching a [`MuConfig`]: the image processor tiles at the tower's size and the config's
        grid pinpoints (for a text-only config, whose processor takes no images, one 336-px tile)."""
        _require_pillow()
        vision_config = config.vision_config
        tile = vision_config.image_size if vision_config is not None else 336
        if image_processor is None:
            image_processor = LlavaOnevisionImageProcessorPil(
                size={"height": tile, "width": tile},
                image_grid_pinpoints=config.image_grid_pinpoints or [[tile, tile]],
            )
        return cls(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=vision_config.patch_size if vision_config is not None else 14,
            vision_aspect_ratio=config.vision_aspect_ratio,
        )

    def validate_inputs(self, images=None, text=None, **kwargs):
        if images is not None and self.image_token_id is None:
            raise ValueError(
                "This processor's tokenizer has no image token, so it serves a text-only Mu model: pass text only."
            )
        if images is not None and text is not None:  # older transformers do not count them
            placeholders = sum(
                prompt.count(self.image_token) for prompt in ([text] if isinstance(text, str) else text)
            )
            num_images = len(make_flat_list_of_images(images))
            if placeholders != num_images:
                raise ValueError(
                    f"The text holds {placeholders} {self.image_token} placeholders but {num_images} images were "
                    f"given: put one {self.image_token} in the text for each image."
                )
        super().validate_inputs(images=images, text=text, **kwargs)

    def _process_images(self, images, **kwargs):
        counter = itertools.count()

        def check(images):
            if isinstance(images, (list, tuple)):
                return [check(image) for image in images]
            return normalized_image(images, next(counter))

        return super()._process_images(check(images), **kwargs)

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs) -> str:
        height, width = (int(side) for side in image_inputs["image_sizes"][image_idx])
        images_per_prompt = [int(count) for count in image_inputs["batch_num_images"] for _ in range(int(count))]
        return self.image_token * self.num_image_features(height, width, tiled=images_per_prompt[image_idx] == 1)

    # Adapted from transformers.models.llava_onevision.processing_llava_onevision.LlavaOnevisionProcessor
    # (`_get_number_of_features`, `_get_unpadded_features`): private there, and this file travels as remote code.
    def num_image_features(self, height: int, width: int, tiled: bool = True) -> int:
        """
        How many features the model packs for an image of `height` × `width` pixels: the whole-image tile's
        patches, then the patch grid of the other tiles without the tiling's padding, downsampled to about N tiles
        beyond `anyres_max_N`, with one `image_newline` per row. An image sharing its prompt with others (not
        `tiled`) gives one tile's patches and one `image_newline`.
        """
        tile = self.image_processor.size["height"]
        side = tile // self.patch_size
        if not tiled:
            return side * side + 1
        grid_height, grid_width = select_best_resolution((height, width), self.image_processor.image_grid_pinpoints)
        rows, columns = grid_height // tile * side, grid_width // tile * side
        if width / height > columns / rows:
            content_rows = int(round(height * (columns / width), 7))
            rows -= (rows - content_rows) // 2 * 2
        else:
            content_columns = int(round(width * (rows / height), 7))
            columns -= (columns - content_columns) // 2 * 2
        ratio = math.sqrt(rows * columns / (max_num_image_tiles(self.vision_aspect_ratio) * side * side))
        if ratio > 1.1:
            rows, columns = int(rows // ratio), int(columns // ratio)
        return side * side + rows * (columns + 1)


__all__ = ["MuProcessor"]

"""Awkward and broken images: each is either read as the picture it shows or refused with a message."""

import io

import numpy as np
import PIL.Image
import pytest
import torch

from mu import MuProcessor
from mu.processing_mu import open_image

from .vision_setup import noise_image, vision_config, vision_tokenizer


@pytest.fixture(scope="module")
def processor():
    tokenizer = vision_tokenizer()
    return MuProcessor.from_model_config(vision_config(tokenizer), tokenizer)


def pixels(processor, image) -> torch.Tensor:
    return processor(images=image, text="<image>", return_tensors="pt").pixel_values


def _jpeg_bytes(image: PIL.Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def test_corrupt_and_empty_files_are_refused_by_name(tmp_path):
    corrupt, empty = tmp_path / "corrupt.png", tmp_path / "empty.jpg"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing sensible")
    empty.write_bytes(b"")
    for path in (corrupt, empty):
        with pytest.raises(ValueError, match=f"Cannot read the image '.*{path.name}'"):
            open_image(str(path))
    with pytest.raises(ValueError, match="Cannot read the image 'missing.png'"):
        open_image("missing.png")


def test_truncated_jpeg_is_refused_from_a_file_and_from_an_open_image(tmp_path, processor):
    data = _jpeg_bytes(noise_image(200, 300))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="Cannot read the image .*truncated.jpg"):
        open_image(str(truncated))
    lazily_opened = PIL.Image.open(io.BytesIO(data[: len(data) // 2]))  # PIL decodes only when asked
    with pytest.raises(ValueError, match="Image 0 cannot be decoded \\(corrupt or truncated data\\)"):
        pixels(processor, lazily_opened)


def test_zero_size_images_are_refused(processor):
    with pytest.raises(ValueError, match="Image 0 is empty \\(0x10 pixels\\)"):
        pixels(processor, PIL.Image.new("RGB", (0, 10)))
    with pytest.raises(ValueError, match="Image 1 is empty \\(shape \\(10, 0, 3\\)\\)"):
        processor(images=[noise_image(5, 5), np.zeros((10, 0, 3), np.uint8)], text=["<image>", "<image>"])


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "1", "LA"])
def test_other_colour_modes_read_as_their_rgb_picture(processor, mode):
    image = noise_image(120, 90, seed=3, mode=mode)
    assert torch.equal(pixels(processor, image), pixels(processor, image.convert("RGB")))
    if mode == "L":  # grey: three equal channels before normalisation
        channels = pixels(processor, image)[0, 0] * torch.tensor(processor.image_processor.image_std)[:, None, None]
        torch.testing.assert_close(
            channels[0] - channels[1], channels.new_full(channels[0].shape, channels[0, 0, 0] - channels[1, 0, 0])
        )


def test_transparency_is_composited_onto_white(processor):
    rgba = noise_image(64, 64, seed=4, mode="RGBA")
    rgba.putalpha(0)
    assert torch.equal(pixels(processor, rgba), pixels(processor, PIL.Image.new("RGB", (64, 64), "white")))


def test_sixteen_bit_images_are_scaled_not_clipped(processor):
    levels = np.random.default_rng(5).integers(0, 256, (80, 60)).astype(np.uint16)
    sixteen_bit = PIL.Image.fromarray(levels * 257)  # mode I;16: 0..65535
    assert sixteen_bit.mode.startswith("I;16")
    eight_bit = PIL.Image.fromarray(levels.astype(np.uint8))
    assert torch.equal(pixels(processor, sixteen_bit), pixels(processor, eight_bit))
    with pytest.raises(ValueError, match="uint16 pixels: give uint8"):
        pixels(processor, np.zeros((8, 8, 3), np.uint16))
    with pytest.raises(ValueError, match="float pixels \\(PIL mode 'F'\\)"):
        pixels(processor, PIL.Image.fromarray(np.zeros((8, 8), np.float32)))


def test_animated_gif_gives_its_first_frame(tmp_path, processor):
    frames = [PIL.Image.new("RGB", (40, 30), colour) for colour in ("red", "blue", "green")]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    animated = PIL.Image.open(path)
    assert animated.n_frames == 3
    assert torch.equal(pixels(processor, animated), pixels(processor, frames[0]))
    assert torch.equal(pixels(processor, open_image(str(path))), pixels(processor, frames[0]))


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    PIL.Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)  # 10 000 pixels is now over twice the limit
    with pytest.raises(ValueError, match="Cannot read the image .*bomb.png.*decompression bomb"):
        open_image(str(path))

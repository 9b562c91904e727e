"""Awkward and broken images: each is either read as the picture it shows or refused with a message."""

import io
import struct
import subprocess
import sys

import numpy as np
import PIL.Image
import PIL.PngImagePlugin
import pytest
import torch

from mu import MuProcessor
from mu.processing_mu import normalized_image, open_image

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


def _pgm_bytes(samples: list[int], maxval: int) -> bytes:
    return f"P5 {len(samples)} 1 {maxval}\n".encode() + np.asarray(samples, ">u2").tobytes()


def _twelve_bit_tiff_bytes(samples: list[int]) -> bytes:
    """One row of 12-bit grey samples, packed two in three bytes (Pillow writes no 12-bit TIFF)."""
    pixels = b"".join(bytes([a >> 4, (a & 15) << 4 | b >> 8, b & 255]) for a, b in zip(samples[::2], samples[1::2]))
    header_and_ifd_size = 8 + 2 + 9 * 12 + 4
    tags = {256: len(samples), 257: 1, 258: 12, 259: 1, 262: 1, 273: header_and_ifd_size, 277: 1, 278: 1}
    tags[279] = len(pixels)
    entries = b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in tags.items())  # type 4: LONG
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries + struct.pack("<I", 0) + pixels


def grey(image: PIL.Image.Image) -> list[int]:
    return np.asarray(normalized_image(image).convert("L")).ravel().tolist()


# expected: round(sample * 255 / 65535), by hand
@pytest.mark.parametrize(("samples", "expected"), [([0, 100, 255], [0, 0, 1]), ([1000, 32896, 65535], [4, 128, 255])])
def test_sixteen_bit_png_and_pgm_are_scaled_alike_whatever_their_values(tmp_path, samples, expected):
    png, pgm = tmp_path / "grey.png", tmp_path / "grey.pgm"
    PIL.Image.fromarray(np.asarray([samples], np.uint16)).save(png)
    pgm.write_bytes(_pgm_bytes(samples, maxval=65535))
    assert PIL.Image.open(png).mode == "I;16" and PIL.Image.open(pgm).mode == "I"
    for path in (png, pgm):
        assert grey(open_image(str(path))) == expected
        assert grey(PIL.Image.open(path)) == expected


# expected: round(sample * 255 / 1023), by hand
@pytest.mark.parametrize(("samples", "expected"), [([0, 3], [0, 1]), ([511, 512, 1023], [127, 128, 255])])
def test_pgm_samples_are_scaled_by_its_maxval(tmp_path, samples, expected):
    path = tmp_path / "ten_bit.pgm"
    path.write_bytes(_pgm_bytes(samples, maxval=1023))
    assert grey(open_image(str(path))) == expected


def test_png_sbit_chunk_leaves_the_scale_at_65535(tmp_path):
    """PNG stores samples at full range whatever its sBIT chunk: 12-bit 0, 2048, 4095 by bit replication."""
    path = tmp_path / "twelve_significant_bits.png"
    sbit = PIL.PngImagePlugin.PngInfo()
    sbit.add(b"sBIT", bytes([12]))
    PIL.Image.fromarray(np.asarray([[0, 32776, 65535]], np.uint16)).save(path, pnginfo=sbit)
    assert b"sBIT" in path.read_bytes()
    assert grey(open_image(str(path))) == [0, 128, 255]  # round(sample * 255 / 65535), as 12-bit / 4095


def test_twelve_bit_tiff_is_scaled_by_4095_and_sixteen_bit_tiff_by_65535(tmp_path):
    twelve_bit = tmp_path / "twelve_bit.tif"
    twelve_bit.write_bytes(_twelve_bit_tiff_bytes([0, 100, 2048, 4095]))
    assert PIL.Image.open(twelve_bit).mode == "I;16"
    assert grey(open_image(str(twelve_bit))) == [0, 6, 128, 255]  # round(sample * 255 / 4095)
    assert grey(PIL.Image.open(twelve_bit)) == [0, 6, 128, 255]
    sixteen_bit = tmp_path / "sixteen_bit.tif"
    PIL.Image.fromarray(np.asarray([[0, 4095, 65535]], np.uint16)).save(sixteen_bit)
    assert grey(open_image(str(sixteen_bit))) == [0, 16, 255]  # round(sample * 255 / 65535)


def test_integer_image_of_unknown_source_is_taken_as_sixteen_bit():
    assert grey(PIL.Image.fromarray(np.asarray([[0, 255, 65535]], np.int32))) == [0, 1, 255]
    with pytest.raises(ValueError, match="Image 0 has pixels outside the range of its 16-bit samples \\(0-65535\\)"):
        normalized_image(PIL.Image.fromarray(np.asarray([[0, 70000]], np.int32)))
    with pytest.raises(ValueError, match="outside the range"):
        normalized_image(PIL.Image.fromarray(np.asarray([[-1, 0]], np.int32)))


BLACK, WHITE = [0, 0, 0], [255, 255, 255]


@pytest.mark.parametrize(
    ("samples", "transparency", "expected"),
    [
        (np.asarray([[0, 1000, 65535]], np.uint16), 1000, [BLACK, WHITE, WHITE]),  # I;16
        (np.asarray([[0, 7, 200]], np.uint8), 7, [BLACK, WHITE, [200, 200, 200]]),  # L
        (np.asarray([[BLACK, [10, 20, 30], [10, 20, 31]]], np.uint8), (10, 20, 30), [BLACK, WHITE, [10, 20, 31]]),
    ],
)
def test_transparent_colour_is_white_in_every_mode(tmp_path, samples, transparency, expected):
    path = tmp_path / "transparent.png"
    PIL.Image.fromarray(samples).save(path, transparency=transparency)
    assert PIL.Image.open(path).info["transparency"] == transparency
    assert np.asarray(normalized_image(open_image(str(path))).convert("RGB"))[0].tolist() == expected


def test_transparent_sample_of_a_32_bit_image_is_white():
    image = PIL.Image.fromarray(np.asarray([[0, 500, 65535]], np.int32))
    image.info["transparency"] = 500
    assert grey(image) == [0, 255, 255]


def test_unsupported_dds_is_refused_by_name(tmp_path):
    path = tmp_path / "unsupported.dds"
    pixel_format = struct.pack("<4I", 32, 4, int.from_bytes(b"XXXX", "little"), 0)  # flags 4: a FourCC, unknown
    path.write_bytes(b"DDS " + struct.pack("<4I", 124, 0, 1, 1) + bytes(56) + pixel_format + bytes(36))
    with pytest.raises(ValueError, match="Cannot read the image '.*unsupported.dds'"):
        open_image(str(path))


def test_truncated_file_that_opens_but_does_not_load_is_refused(tmp_path):
    buffer = io.BytesIO()
    noise_image(20, 30).save(buffer, format="QOI")
    path = tmp_path / "truncated.qoi"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ValueError, match="Cannot read the image '.*truncated.qoi'"):
        open_image(str(path))
    with pytest.raises(ValueError, match="Image 3 cannot be decoded \\(corrupt or truncated data\\)"):
        normalized_image(PIL.Image.open(path), index=3)  # Pillow raises a ValueError, "not enough image data"


@pytest.mark.parametrize(
    "error",
    [struct.error, EOFError, IndexError, TypeError, KeyError, NotImplementedError, PIL.Image.DecompressionBombError],
)
def test_any_error_of_a_plugin_is_wrapped(tmp_path, monkeypatch, error):
    path = tmp_path / "image.png"
    noise_image(8, 8).save(path)

    def load(self):
        raise error("a plugin failed")

    monkeypatch.setattr(PIL.PngImagePlugin.PngImageFile, "load", load)
    with pytest.raises(ValueError, match="Cannot read the image '.*image.png': .*a plugin failed"):
        open_image(str(path))
    with pytest.raises(ValueError, match="Image 0 cannot be decoded .*a plugin failed"):
        normalized_image(PIL.Image.open(path))


def test_files_opened_before_do_not_change_how_a_file_is_read(tmp_path):
    """Pillow tries its plugins in the order they were imported: in a fresh interpreter, where opening a .tga imports
    TGA's first, TGA's (which has no signature to check) would take this .ico."""
    tga, ico = tmp_path / "image.tga", tmp_path / "icon.ico"
    PIL.Image.new("RGB", (4, 4), "red").save(tga)
    # a 32-bit 128-px icon, whose header happens to pass TGA's checks
    PIL.Image.new("RGBA", (128, 128), "blue").save(ico, sizes=[(128, 128)], bitmap_format="bmp")
    script = (
        "import sys; from mu.processing_mu import open_image; open_image(sys.argv[1]); "
        "image = open_image(sys.argv[2]); print(image.format, image.size)"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tga), str(ico)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ICO", "(128,", "128)"]

"""lesions.imaging.sanitize_photo: what is accepted, and what the stored copy looks like."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pytest
from PIL import Image

from lesions.imaging import ImageRejected, SanitizedPhoto, sanitize_photo
from tests.factories import (
    PATIENT_TEXT,
    make_exif,
    make_gif,
    make_jpeg,
    make_jpeg_with_text,
    make_png,
    make_png_with_text,
)
from tests.helpers import jpeg_segments, png_chunks

COM, APP0, APP2 = 0xFE, 0xE0, 0xE2
APP1_TO_APP15 = set(range(0xE1, 0xF0))

LIMITS = {"max_bytes": 5 * 1024 * 1024, "max_pixels": 50_000_000}


def prepare(content: bytes, **limits: int) -> SanitizedPhoto:
    return sanitize_photo(BytesIO(content), **{**LIMITS, **limits})


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size in IHDR but carries no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def decoded(prepared: SanitizedPhoto) -> Image.Image:
    image = Image.open(BytesIO(prepared.content))
    image.load()
    return image


def _is_red(pixel: tuple[int, int, int]) -> bool:
    red, green, blue = pixel
    return red > 200 and green < 60 and blue < 60


def test_it_accepts_a_jpeg() -> None:
    prepared = prepare(make_jpeg(200, 150))

    assert (prepared.content_type, prepared.extension, prepared.source_format) == ("image/jpeg", "jpg", "JPEG")
    assert (prepared.width, prepared.height) == (200, 150)
    assert decoded(prepared).format == "JPEG"


def test_it_accepts_a_png_and_keeps_it_png() -> None:
    prepared = prepare(make_png(120, 90))

    assert (prepared.content_type, prepared.extension) == ("image/png", "png")
    assert decoded(prepared).size == (120, 90)


def test_it_accepts_a_real_dermoscopy_photo(sample_photo_path) -> None:
    prepared = prepare(sample_photo_path.read_bytes())

    assert decoded(prepared).size == (prepared.width, prepared.height)


def test_it_hashes_the_stored_bytes() -> None:
    import hashlib

    prepared = prepare(make_jpeg())

    assert prepared.sha256 == hashlib.sha256(prepared.content).hexdigest()


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "WEBP"])
def test_it_rejects_other_formats(fmt: str) -> None:
    out = BytesIO()
    Image.new("RGB", (64, 64), (200, 150, 120)).save(out, fmt)

    with pytest.raises(ImageRejected, match=f"{fmt} files are not accepted"):
        prepare(out.getvalue())


def test_it_rejects_an_animated_gif() -> None:
    with pytest.raises(ImageRejected, match="not accepted"):
        prepare(make_gif())


def test_it_rejects_a_file_that_is_not_an_image() -> None:
    with pytest.raises(ImageRejected, match="not a readable image"):
        prepare(b"%PDF-1.7 definitely not a photo")


def test_it_rejects_an_empty_file() -> None:
    with pytest.raises(ImageRejected, match="empty"):
        prepare(b"")


def test_it_rejects_a_file_over_the_byte_limit() -> None:
    content = make_jpeg()

    with pytest.raises(ImageRejected, match="the limit is"):
        prepare(content, max_bytes=len(content) - 1)


def test_it_accepts_a_file_exactly_at_the_byte_limit() -> None:
    content = make_jpeg()

    assert prepare(content, max_bytes=len(content)).width == 200


def test_it_rejects_a_truncated_jpeg() -> None:
    content = make_jpeg(400, 300)

    with pytest.raises(ImageRejected, match="damaged or incomplete"):
        prepare(content[: len(content) // 2])


def test_it_rejects_a_tiny_image() -> None:
    with pytest.raises(ImageRejected, match="only 8×8 pixels"):
        prepare(make_png(8, 8))


def test_it_enforces_the_pixel_limit_from_the_header_before_decoding() -> None:
    # 5000×5000 declared, no pixel data: decoding would fail as "damaged", so the
    # megapixel message proves the header was checked first.
    with pytest.raises(ImageRejected, match="the limit is 1 megapixels"):
        prepare(png_header(5000, 5000), max_pixels=1_000_000)


def test_it_refuses_a_decompression_bomb_without_expanding_it() -> None:
    # 10 gigapixels declared: Pillow's own bomb guard fires while reading the header.
    with pytest.raises(ImageRejected, match="far too many pixels"):
        prepare(png_header(100_000, 100_000))


def test_it_applies_the_exif_orientation() -> None:
    # Orientation 6: the camera was turned, the picture must be rotated 90° clockwise to show.
    content = make_jpeg(200, 150, exif=make_exif(orientation=6))

    image = decoded(prepare(content))

    assert image.size == (150, 200)
    # The red marker drawn in the top-left corner of the sensor image is now top-right.
    assert _is_red(image.getpixel((image.width - 5, 5)))
    assert not _is_red(image.getpixel((5, 5)))


def test_it_drops_exif_and_gps_from_the_stored_copy() -> None:
    content = make_jpeg(exif=make_exif(orientation=1, gps=True))
    with Image.open(BytesIO(content)) as original:
        assert original.getexif().get_ifd(0x8825)  # the upload does carry a GPS position

    prepared = prepare(content)

    image = decoded(prepared)
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info
    assert b"Exif\x00\x00" not in prepared.content
    assert b"PhoneMaker" not in prepared.content


def test_it_keeps_the_colour_profile() -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = BytesIO()
    Image.new("RGB", (64, 64), (200, 150, 120)).save(out, "JPEG", icc_profile=profile)

    assert decoded(prepare(out.getvalue())).info.get("icc_profile") == profile


def test_it_converts_other_colour_modes_to_rgb() -> None:
    out = BytesIO()
    Image.new("RGBA", (64, 64), (200, 150, 120, 128)).save(out, "PNG")

    assert decoded(prepare(out.getvalue())).mode == "RGB"


def test_it_accepts_a_phone_mpo_jpeg_and_keeps_the_first_frame() -> None:
    photo = Image.new("RGB", (320, 240), (200, 30, 30))
    preview = Image.new("RGB", (160, 120), (30, 30, 200))
    buffer = BytesIO()
    photo.save(buffer, "MPO", save_all=True, append_images=[preview])
    assert Image.open(BytesIO(buffer.getvalue())).format == "MPO"

    prepared = prepare(buffer.getvalue())
    assert prepared.content_type == "image/jpeg"
    assert (prepared.width, prepared.height) == (320, 240)
    stored = decoded(prepared)
    assert stored.format == "JPEG"
    assert _is_red(stored.getpixel((160, 120)))


def test_the_stored_jpeg_keeps_no_comment_and_no_application_block() -> None:
    content = make_jpeg_with_text()
    assert {COM, 0xE1, 0xED, 0xEF} <= {marker for marker, _ in jpeg_segments(content)}  # the upload has them

    stored = prepare(content).content

    markers = [marker for marker, _ in jpeg_segments(stored)]
    assert COM not in markers
    assert not APP1_TO_APP15 & set(markers)
    assert markers.count(APP0) == 1  # JFIF, written by the encoder
    assert PATIENT_TEXT.encode() not in stored and b"Jane Doe" not in stored


def test_the_stored_png_keeps_no_text_chunk() -> None:
    content = make_png_with_text()
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf"} <= set(png_chunks(content))

    stored = prepare(content).content

    assert set(png_chunks(stored)) <= {b"IHDR", b"IDAT", b"IEND"}
    assert b"Jane Doe" not in stored


def test_the_colour_profile_is_the_only_application_block_kept() -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = BytesIO()
    Image.new("RGB", (64, 64), (200, 150, 120)).save(out, "JPEG", icc_profile=profile, comment=PATIENT_TEXT)

    segments = jpeg_segments(prepare(out.getvalue()).content)

    application = [(marker, payload[:12]) for marker, payload in segments if marker in APP1_TO_APP15 | {COM}]
    assert application == [(APP2, b"ICC_PROFILE\x00")]

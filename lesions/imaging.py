"""Validation and normalisation of uploaded photos (web form and API share it).

A photo is accepted only when Pillow decodes it completely as an allowed format, within
the byte and pixel limits, with a single frame. The stored copy is re-encoded with its EXIF
orientation applied and nothing else of the upload's: no EXIF, GPS, XMP, comments (JPEG COM),
text chunks or other APPn blocks; the colour profile (JPEG APP2 / PNG iCCP) alone is kept.

Memory: the photo is read from the upload as it decodes and decoded once; turning it upright
or into RGB replaces that copy rather than adding to it (at most two full copies, briefly, for
a rotated or non-RGB photo), and the encoder writes straight from it. ``benchmarks`` measures
the peak for the largest allowed photo. The thumbnail (``THUMBNAIL_MAX_SIDE``) is made from the
same decoded copy, shrunk in place once the photo is encoded: the upload decodes it only once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from io import BytesIO
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF from phones; optional so the core works without the plugin
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # pragma: no cover
    HEIF_AVAILABLE = False

# The PDF report prints a photo 62 mm wide: 700 pixels are ~290 dpi there.
THUMBNAIL_MAX_SIDE = 700
THUMBNAIL_QUALITY = 85

# format -> (stored format, extension, content type)
ACCEPTED_FORMATS: dict[str, tuple[str, str, str]] = {
    "JPEG": ("JPEG", "jpg", "image/jpeg"),
    "PNG": ("PNG", "png", "image/png"),
}
HEIF_FORMATS = {"HEIF", "HEIC", "AVIF"}
# Phones often save JPEGs with an MPO extension (a second, smaller preview or depth frame):
# they are JPEGs, and only the first frame, the photo itself, is kept.
MULTI_PICTURE_JPEG = "MPO"


class ImageRejected(ValueError):
    """The upload is not an acceptable photo; the message says why, for the user."""


@dataclass(frozen=True)
class SanitizedPhoto:
    content: bytes
    extension: str
    content_type: str
    width: int
    height: int
    sha256: str
    source_format: str
    thumbnail: bytes  # a JPEG of at most THUMBNAIL_MAX_SIDE pixels a side


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def sanitize_photo(upload: IO[bytes], *, max_bytes: int, max_pixels: int, allow_heif: bool = False) -> SanitizedPhoto:
    """Check an uploaded photo and return the cleaned copy to store, or raise ImageRejected."""
    upload.seek(0, 2)
    size = upload.tell()
    upload.seek(0)
    if size == 0:
        raise ImageRejected("The file is empty.")
    if size > max_bytes:
        raise ImageRejected(f"The file is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}.")

    accepted = dict(ACCEPTED_FORMATS)
    if allow_heif and HEIF_AVAILABLE:
        for fmt in HEIF_FORMATS:
            accepted[fmt] = ("JPEG", "jpg", "image/jpeg")
    names = "JPEG, PNG" + (" or HEIC" if allow_heif and HEIF_AVAILABLE else "")

    try:
        # Opening reads only the header: format, size and frame count are known before any
        # pixel is decoded, so a decompression bomb is refused without being expanded.
        image = Image.open(upload)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"The file is not a readable image ({names} expected).") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected(
            f"The image has far too many pixels to be a photo (the limit is {max_pixels / 1e6:.0f} megapixels)."
        ) from exc

    with image:
        source_format = (image.format or "").upper()
        width, height = image.size
        try:
            frames = 1 if source_format == MULTI_PICTURE_JPEG else getattr(image, "n_frames", 1)
        except (OSError, SyntaxError, ValueError) as exc:  # counting frames reads further into the file
            raise ImageRejected(f"The file is not a readable image ({names} expected).") from exc
        if source_format == MULTI_PICTURE_JPEG:
            source_format = "JPEG"
        if source_format not in accepted:
            raise ImageRejected(f"{source_format or 'This'} files are not accepted; upload a {names} photo.")
        if width < 16 or height < 16:
            raise ImageRejected(f"The image is only {width}×{height} pixels; a lesion photo needs more.")
        if width * height > max_pixels:
            raise ImageRejected(
                f"The image is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); "
                f"the limit is {max_pixels / 1e6:.0f} megapixels."
            )
        if frames > 1:
            raise ImageRejected("Animated or multi-frame images are not accepted; upload a single photo.")
        try:
            picture, icc_profile = _decode_upright_rgb(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageRejected("The image is damaged or incomplete (truncated file?); upload it again.") from exc

    stored_format, extension, content_type = accepted[source_format]
    out = BytesIO()
    stored_width, stored_height = picture.size
    # Only what is named here is written: Pillow would otherwise carry the upload's comment
    # (``info["comment"]``) into the JPEG it writes.
    picture.info = {}
    save_args: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
    try:
        if stored_format == "JPEG":
            picture.save(out, "JPEG", quality=95, **save_args)
        else:
            picture.save(out, "PNG", **save_args)
        thumbnail = thumbnail_jpeg(picture, icc_profile)
    finally:
        picture.close()  # the decoded pixels go before the encoded copy is hashed and stored
    content = out.getvalue()
    return SanitizedPhoto(
        content=content,
        extension=extension,
        content_type=content_type,
        width=stored_width,
        height=stored_height,
        sha256=hashlib.sha256(content).hexdigest(),
        source_format=source_format,
        thumbnail=thumbnail,
    )


def thumbnail_jpeg(picture: Image.Image, icc_profile: bytes | None = None) -> bytes:
    """A JPEG of ``picture`` at most THUMBNAIL_MAX_SIDE a side; shrinks ``picture`` itself (no second full copy)."""
    picture.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
    if picture.mode != "RGB":
        picture = picture.convert("RGB")
    out = BytesIO()
    save_args: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
    picture.save(out, "JPEG", quality=THUMBNAIL_QUALITY, **save_args)
    return out.getvalue()


def thumbnail_of_stored(handle: IO[bytes]) -> bytes:
    """The thumbnail of a stored photo (a JPEG decodes at a fraction of its size; a PNG in full, this once)."""
    with Image.open(handle) as opened:
        opened.draft("RGB", (THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
        icc_profile = opened.info.get("icc_profile")
        picture = opened.convert("RGB")
    try:
        return thumbnail_jpeg(picture, icc_profile)
    finally:
        picture.close()


def _decode_upright_rgb(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """Decode ``image`` once and return it upright in RGB, with its colour profile.

    Each step replaces the pixels it works on (the rotation in place, the conversion closing
    the copy it came from), so no more than two full copies exist at any moment, and only one
    for an upright RGB photo, the usual case.
    """
    image.load()  # a truncated or corrupt file fails here
    icc_profile = image.info.get("icc_profile")
    ImageOps.exif_transpose(image, in_place=True)  # nothing happens without an orientation tag
    if image.mode == "RGB":
        return image, icc_profile
    rgb = image.convert("RGB")
    image.close()  # the decoded original's pixels go now, not when the caller's block ends
    return rgb, icc_profile

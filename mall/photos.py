"""Photos uploaded by customers and staff (refund evidence, inspection records): checked by content, never by name.

A small file can claim a huge picture (a 12 KB PNG of 10000 x 10000 zeros inflates to 100 million pixels), so the
pixel count is read from the header and refused above ``MAX_PIXELS`` before anything is decoded; Pillow's own
decompression-bomb warning counts as a refusal too."""

from __future__ import annotations

import io
import warnings

from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

# Phones' largest common modes are 48-50 megapixels; anything larger is not a photo of a parcel.
MAX_PIXELS = 50_000_000
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


class PhotoRefused(Exception):
    """Not a photo we keep; ``str()`` says why, in the request's language."""


def photo_type(data: bytes) -> tuple[str, str]:
    """(content type, file extension) of a JPEG, PNG or WebP photo of at most ``MAX_PIXELS``."""
    not_a_photo = _("The file is not a JPEG, PNG or WebP photo.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PhotoRefused(_too_many_pixels())
                image_format = image.format
                # Checks the file's structure (PNG chunk checksums, JPEG markers) without decoding its pixels.
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRefused(_too_many_pixels()) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise PhotoRefused(not_a_photo) from None
    if image_format not in FORMATS:
        raise PhotoRefused(not_a_photo)
    return FORMATS[image_format]


def _too_many_pixels() -> str:
    return _("The photo has too many pixels: at most %(megapixels)d megapixels.") % {
        "megapixels": MAX_PIXELS // 1_000_000
    }

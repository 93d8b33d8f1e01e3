"""Photos the demo's customers send with their claims: fruit on a table, some of it bruised. Drawn, not shipped."""

from __future__ import annotations

import io
import random

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw

# fruit: (skin colour, bruise colour, diameter in pixels)
FRUIT = {
    "strawberry": ((205, 32, 44), (92, 24, 20), 70),
    "cherry": ((120, 10, 30), (60, 45, 30), 52),
    "gift": ((242, 170, 40), (110, 80, 30), 96),
    "apple": ((200, 40, 40), (140, 100, 60), 104),
    "durian": ((176, 168, 70), (96, 84, 36), 110),
}
SIZE = (480, 360)


def fruit_photo(fruit: str, *, seed: int = 0) -> SimpleUploadedFile:
    """A JPEG of a few pieces of ``fruit``, one in three bruised, as an upload the evidence service takes."""
    skin, bruise, diameter = FRUIT[fruit]
    rng = random.Random(f"{fruit}-{seed}")  # noqa: S311 - a picture, not a secret
    image = Image.new("RGB", SIZE, (236, 228, 214))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, SIZE[1] * 2 // 3, SIZE[0], SIZE[1]), fill=(214, 200, 180))
    for index in range(9):
        x = 30 + (index % 3) * (SIZE[0] - 60) // 3 + rng.randint(0, 40)
        y = 30 + (index // 3) * (SIZE[1] - 60) // 3 + rng.randint(0, 30)
        draw.ellipse((x, y, x + diameter, y + diameter * 9 // 10), fill=skin, outline=(60, 40, 30), width=2)
        draw.ellipse((x + diameter // 5, y + diameter // 6, x + diameter // 3, y + diameter // 4), fill=(250, 240, 230))
        if index % 3 == 1:
            spot = diameter // 3
            sx, sy = x + rng.randint(spot // 2, diameter - spot), y + rng.randint(spot // 2, diameter - spot)
            draw.ellipse((sx, sy, sx + spot, sy + spot * 4 // 5), fill=bruise)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return SimpleUploadedFile(f"{fruit}.jpg", buffer.getvalue(), content_type="image/jpeg")

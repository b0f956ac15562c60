"""Images for people: label maps in colour, sample grids, PNG files."""

import os
import pathlib

import numpy as np
import tensorflow as tf

_PALETTE = np.random.default_rng(2024).uniform(-1.0, 1.0, (256, 3)).astype("float32")


def as_rgb(images):
    """float32 (B, H, W, 3) in [-1, 1] from images of that kind or from int label maps
    (B, H, W, 1), which get one fixed colour per id (ids repeat colours every 256)."""
    images = tf.convert_to_tensor(images)
    if images.dtype.is_integer:
        return tf.gather(_PALETTE, tf.math.floormod(images[..., 0], len(_PALETTE)))
    if images.shape[-1] == 1:
        images = tf.repeat(images, 3, axis=-1)
    return tf.cast(images, "float32")


def sample_grid(columns):
    """One image from `{title: images (B, H, W, C)}`: a row per sample, a column per entry
    (left to right), each cell resized to the largest cell. Returns uint8 (B*H, N*W, 3)."""
    cells = [as_rgb(images) for images in columns.values()]
    height = max(int(cell.shape[1]) for cell in cells)
    width = max(int(cell.shape[2]) for cell in cells)
    cells = [tf.image.resize(cell, (height, width), method="nearest") for cell in cells]
    rows = tf.concat(cells, axis=2)  # (B, H, N*W, 3)
    grid = tf.reshape(rows, (-1, rows.shape[2], 3))
    return to_uint8(grid)


def to_uint8(images):
    """uint8 from float images in [-1, 1] (clipped)."""
    return tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


def save_png(path, image):
    """Writes uint8 (H, W, 3) `image` (or float in [-1, 1]) as a PNG, atomically."""
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
        image = to_uint8(as_rgb(image[None]))[0]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"tmp-{path.name}")
    temporary.write_bytes(tf.io.encode_png(image).numpy())
    os.replace(temporary, path)
    return path

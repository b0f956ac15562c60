"""Images for people: label maps in colour, sample grids, PNG files."""

import os
import pathlib

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont

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


def sample_grid(columns, titled=True, min_width=96):
    """One image from `{title: images (B, H, W, C)}`: a row per sample, a column per entry
    (left to right), each cell resized (nearest) to the largest cell, enlarged by a whole
    factor to at least `min_width` pixels, and with `titled` a band of column titles on top.
    Returns uint8 (T + B*H, N*W, 3), T the title band's height (0 without titles)."""
    cells = [as_rgb(images) for images in columns.values()]
    height = max(int(cell.shape[1]) for cell in cells)
    width = max(int(cell.shape[2]) for cell in cells)
    factor = max(1, -(-min_width // width))
    height, width = height * factor, width * factor
    cells = [tf.image.resize(cell, (height, width), method="nearest") for cell in cells]
    rows = tf.concat(cells, axis=2)  # (B, H, N*W, 3)
    grid = to_uint8(tf.reshape(rows, (-1, rows.shape[2], 3))).numpy()
    if titled:
        grid = np.concatenate([_title_band(list(columns), width), grid], axis=0)
    return grid


def _title_band(titles, width, height=18):
    """uint8 (height, len(titles) * width, 3): each title centred over its column."""
    band = Image.new("RGB", (len(titles) * width, height), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    font = ImageFont.load_default(size=12)
    for index, title in enumerate(titles):
        left, _, right, _ = draw.textbbox((0, 0), title, font=font)
        x = index * width + max(0, (width - (right - left)) // 2)
        draw.text((x, 2), title, fill=(0, 0, 0), font=font)
    return np.asarray(band)


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


def save_loss_plot(path, rows):
    """A PNG of every loss column of `rows` (dicts with "step", as `callbacks.LossLog` writes
    them; "epoch" and "lr_*" columns left out) against the step, one panel per loss."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = [name for name in dict.fromkeys(n for row in rows for n in row)
             if name not in ("step", "epoch") and not name.startswith("lr_")]
    if not names:
        return None
    columns = min(3, len(names))
    lines = -(-len(names) // columns)
    figure, axes = pyplot.subplots(lines, columns, figsize=(4 * columns, 2.6 * lines),
                                   squeeze=False)
    for axis, name in zip(axes.flat, names):
        points = [(float(row["step"]), float(row[name])) for row in rows
                  if row.get(name) not in (None, "")]
        axis.plot(*zip(*points), linewidth=1)
        axis.set_title(name, fontsize=10)
        axis.set_xlabel("step", fontsize=8)
        axis.tick_params(labelsize=8)
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    figure.tight_layout()
    path = pathlib.Path(path)
    temporary = path.with_name(f"tmp-{path.name}")
    figure.savefig(temporary, format="png", dpi=80)
    pyplot.close(figure)
    os.replace(temporary, path)
    return path

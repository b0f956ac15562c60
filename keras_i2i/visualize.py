"""Images for people: label maps in colour, sample grids, frame strips, PNG and MP4 files."""

import fractions
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


def as_uint8_rgb(image):
    """uint8 (H, W, 3) from uint8 RGB, float in [-1, 1] or an int label map (H, W, 1)."""
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
        image = to_uint8(as_rgb(image[None]))[0]
    return image


def save_png(path, image):
    """Writes uint8 (H, W, 3) `image` (or float in [-1, 1]) as a PNG, atomically."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"tmp-{path.name}")
    temporary.write_bytes(tf.io.encode_png(as_uint8_rgb(image)).numpy())
    os.replace(temporary, path)
    return path


def frame_strip(*clips, titled=True, min_width=96):
    """One image of clips frame by frame: a column per frame (titled t=0, t=1, ...), a row per
    clip, each clip (T, H, W, C) float in [-1, 1] or int label maps (T, H, W, 1), all of the
    same T (see `sample_grid` for sizes). Returns uint8 (title band + rows * H, T * W, 3)."""
    rows = [as_rgb(clip) for clip in clips]
    lengths = {int(row.shape[0]) for row in rows}
    if len(lengths) != 1:
        raise ValueError(f"frame_strip: clips of {sorted(lengths)} frames, expected one length")
    height = max(int(row.shape[1]) for row in rows)
    width = max(int(row.shape[2]) for row in rows)
    rows = [tf.image.resize(row, (height, width), method="nearest") for row in rows]
    columns = {f"t={t}": tf.stack([row[t] for row in rows]) for t in range(lengths.pop())}
    return sample_grid(columns, titled, min_width)


def save_frame_strip(path, *clips, titled=True, min_width=96):
    """Writes `frame_strip(*clips)` as a PNG, e.g. `save_frame_strip(p, labels, fakes, reals)`."""
    return save_png(path, frame_strip(*clips, titled=titled, min_width=min_width))


def write_video(path, frames, fps=10, codec="h264"):
    """Writes frames as a video file (PyAV: `pip install keras-i2i[video]`), frame by frame.

    Args:
        path: the file; its suffix names the container (.mp4, .mkv, ...). Written atomically.
        frames: (T, H, W, 3) float in [-1, 1] or uint8, or any iterable of such (H, W, 3)
            frames, converted and encoded one at a time (a generator streams); int label maps
            (H, W, 1) are coloured as in `as_rgb`. Every frame has the first frame's size; an
            odd height or width gets one more edge row or column (yuv420p needs even sizes).
        fps: frames per second (int, float or `fractions.Fraction`).
        codec: an FFmpeg encoder for the container.

    Returns:
        `path` as a `pathlib.Path`.
    """
    try:
        import av
    except ImportError:
        raise ImportError(
            f"{path}: writing videos needs PyAV: pip install keras-i2i[video]", name="av"
        ) from None
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"tmp-{path.name}")
    try:
        with av.open(str(temporary), "w") as container:
            rate = fractions.Fraction(fps).limit_denominator(1001)
            _encode(av, container, frames, rate, codec, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)
    return path


def _encode(av, container, frames, fps, codec, path):
    """Encodes `frames` (see `write_video`) into a new stream of the open `container`."""
    stream = None
    for index, frame in enumerate(frames):
        frame = as_uint8_rgb(frame).numpy()
        if stream is None:
            size = frame.shape[:2]
            stream = container.add_stream(codec, rate=fps)
            stream.height, stream.width = (side + side % 2 for side in size)
            stream.pix_fmt = "yuv420p"
        if frame.shape[:2] != size:
            raise ValueError(
                f"{path}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, expected the "
                f"first frame's {size[1]}x{size[0]}"
            )
        frame = np.pad(frame, [(0, size[0] % 2), (0, size[1] % 2), (0, 0)], mode="edge")
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    if stream is None:
        raise ValueError(f"{path}: no frames to write")
    container.mux(stream.encode())


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

"""Decoding files into tensors (TensorFlow ops, the fast path) and diagnosing bad files (Pillow).

The pipeline decodes with TensorFlow; when a sample fails there (unreadable file, label id out
of range, sizes that disagree), `diagnose` re-reads that sample's files with Pillow and says
which file is wrong and what was expected, e.g.
`/data/x_gtFine_labelIds.png: label id 40 >= label_nc 35`.
"""

import os

import numpy as np
import tensorflow as tf
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def list_files(folder, suffixes=IMAGE_SUFFIXES, recursive=False):
    """Sorted paths of the files in `folder` (and below it if `recursive`) with these suffixes."""
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: expected a folder of files ({', '.join(suffixes)})")
    if recursive:
        paths = [os.path.join(top, name) for top, _, names in os.walk(folder) for name in names]
    else:
        paths = [os.path.join(folder, name) for name in os.listdir(folder)]
    suffixes = tuple(suffix.lower() for suffix in suffixes)
    return sorted(path for path in paths if path.lower().endswith(suffixes) and os.path.isfile(path))


def read_image(path):
    """An RGB image file (PNG, JPEG, BMP, GIF) -> float32 (H, W, 3) in [-1, 1]."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def read_label_map(path):
    """A single-channel 8- or 16-bit PNG (label or instance ids) -> int32 (H, W, 1).

    The bit depth comes from the PNG header: decoding an 8-bit file as 16 bits would scale
    its values by 257.
    """
    contents = tf.io.read_file(path)
    is_png = tf.equal(tf.strings.substr(contents, 0, 8), _PNG_SIGNATURE)
    depth = tf.io.decode_raw(tf.strings.substr(contents, 24, 1), tf.uint8)
    with tf.control_dependencies([tf.debugging.Assert(is_png, [path])]):
        ids = tf.cond(
            tf.equal(depth[0], 16),
            lambda: tf.cast(tf.io.decode_png(contents, dtype=tf.uint16), tf.int32),
            lambda: tf.cast(tf.io.decode_png(contents, dtype=tf.uint8), tf.int32),
        )
    tf.debugging.assert_equal(tf.shape(ids)[-1], 1, message="label maps have one channel")
    return tf.ensure_shape(ids, [None, None, 1])


def check_image(path):
    """Pillow: the image at `path` as a uint8 array, or ValueError naming the file."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"{path}: cannot be read as an image ({error})") from None


def check_label_map(path, what="label map"):
    """Pillow: the ids of a single-channel 8/16-bit PNG as an int array, or ValueError."""
    try:
        with Image.open(path) as image:
            image.load()
            mode, kind = image.mode, image.format
            ids = np.asarray(image)
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"{path}: cannot be read as an image ({error})") from None
    if kind != "PNG" or mode not in ("L", "I", "I;16", "I;16B"):
        raise ValueError(
            f"{path}: expected the {what} as a single-channel 8- or 16-bit PNG of ids, "
            f"got a {kind} image in mode {mode}"
        )
    return ids.astype(np.int64)


def check_label_ids(path, ids, settings):
    """ValueError naming `path` when `ids` holds a raw id that `settings` does not declare."""
    bad = np.unique(ids[~settings.valid_ids(ids)])
    if bad.size == 0:
        return
    first, label_nc = settings.first_id, settings.label_nc
    value = int(bad[-1]) if bad[-1] >= first + label_nc else int(bad[0])
    if value >= first + label_nc:
        message = f"label id {value} >= label_nc {label_nc}" + (f" + {first}" if first else "")
    else:
        message = f"label id {value} < first id {first}"
    if settings.unlabeled_id is not None:
        message += f" (and not the unlabeled id {settings.unlabeled_id})"
    raise ValueError(f"{path}: {message}")


def check_same_size(path, array, reference_path, reference, what):
    """ValueError when `array` (H, W, ...) and `reference` differ in height or width."""
    if array.shape[:2] != reference.shape[:2]:
        raise ValueError(
            f"{path}: {what} is {array.shape[1]}x{array.shape[0]}, expected the size of "
            f"{reference_path} ({reference.shape[1]}x{reference.shape[0]})"
        )

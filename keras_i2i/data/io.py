"""Reading samples: TensorFlow ops (`load_sample`, the fast path) and Pillow (`check_sample`).

The pipeline loads with TensorFlow; when a sample fails there (unreadable file, label id out
of range, sizes that disagree), `check_sample` re-reads its files with Pillow and raises the
ValueError saying which file is wrong and what was expected, e.g.
`/data/x_gtFine_labelIds.png: label id 40 >= label_nc 35`.

A sample's files are a dict member -> path. Members "label" and "instance" are single-channel
PNGs of ids; the others ("image", "input", "ab") are RGB images. A member may also hold the
(T,) frame paths of a clip; frames of a video file repeat its path, with the frame numbers in
`<member>_frame`.
"""

import os

import numpy as np
import tensorflow as tf
from PIL import Image

LABEL_MEMBERS = ("label", "instance")
MEMBER_NAMES = {
    "label": "label map",
    "instance": "instance map",
    "image": "image",
    "input": "input image",
}
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
    return sorted(
        path for path in paths if path.lower().endswith(suffixes) and os.path.isfile(path)
    )


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


def load_sample(paths, settings=None, reference="label"):
    """Path dict -> validated sample of tensors, (H, W, C) per image or (T, H, W, C) per clip.

    Label ids are checked against `settings` (a `DatasetSettings`) and mapped as SPADE does:
    raw `first_id + k` -> k, the unlabeled id -> `label_nc`. Every member must have the size
    of `reference`.
    """
    sample = {}
    for member, path in paths.items():
        if member.endswith("_frame"):
            continue
        read = read_label_map if member in LABEL_MEMBERS else read_image
        if path.shape.rank == 0:
            sample[member] = read(path)
        else:
            sample[member] = _read_frames(read, path, paths.get(member + "_frame"))
    if "label" in sample:
        sample["label"] = map_label_ids(sample["label"], settings)
    return _same_size(sample, reference)


def _read_frames(read, paths, frames):
    """(T,) frame paths -> (T, H, W, C); from a video file when `frames` (T,) numbers are >= 0."""
    labels = read is read_label_map
    signature = tf.TensorSpec([None, None, 1 if labels else 3], tf.int32 if labels else tf.float32)

    def from_files():
        return tf.map_fn(read, paths, fn_output_signature=signature)

    def from_video():
        clip = tf.numpy_function(read_video, [paths[0], frames[0], tf.size(paths)], tf.uint8)
        return tf.cast(tf.ensure_shape(clip, [None, None, None, 3]), tf.float32) / 127.5 - 1.0

    if frames is None or labels:
        return from_files()
    return tf.cond(frames[0] >= 0, from_video, from_files)


def map_label_ids(raw, settings):
    """Raw ids of a label map -> classes 0..label_nc-1 (`label_nc` for unlabeled pixels), as
    `settings` (a `DatasetSettings`) declares; an undeclared id fails an assertion."""
    valid = tf.reduce_all(settings.valid_ids(raw))
    with tf.control_dependencies([tf.debugging.Assert(valid, ["undeclared label id"])]):
        unlabeled = -1 if settings.unlabeled_id is None else settings.unlabeled_id
        return tf.where(raw == unlabeled, settings.label_nc, raw - settings.first_id)


def _same_size(sample, reference):
    """Asserts that every member has the (T,) H, W of `sample[reference]`."""
    shape = tf.shape(sample[reference])[:-1]
    checks = [
        tf.debugging.assert_equal(tf.shape(v)[:-1], shape)
        for k, v in sample.items()
        if k != reference
    ]
    with tf.control_dependencies(checks):
        return {key: tf.identity(value) for key, value in sample.items()}


def check_sample(files, settings=None, reference="label"):
    """Pillow re-read of a sample's files (member -> list of paths): raises the ValueError that
    names the first bad file, or returns when all is well (see `load_sample`)."""
    arrays = {}
    for member, paths in files.items():
        if member.endswith("_frame"):
            continue
        if paths[0].lower().endswith(VIDEO_SUFFIXES):
            start = int(files[member + "_frame"][0])
            clip = read_video(paths[0], start, len(paths))
            arrays[member] = [
                (f"{paths[0]} (frame {start + t})", frame) for t, frame in enumerate(clip)
            ]
        elif member in LABEL_MEMBERS:
            arrays[member] = [(path, check_label_map(path, MEMBER_NAMES[member])) for path in paths]
        else:
            arrays[member] = [(path, check_image(path)) for path in paths]
    for path, ids in arrays.get("label", []):
        check_label_ids(path, ids, settings)
    reference_path, reference_array = arrays[reference][0]
    for member, frames in arrays.items():
        for path, array in frames:
            check_same_size(
                path, array, reference_path, reference_array, MEMBER_NAMES.get(member, member)
            )


def read_video(path, start, count):
    """Frames start..start+count-1 of a video file (PyAV): uint8 (count, H, W, 3)."""
    path = path.decode() if isinstance(path, bytes) else path
    clip = []
    with _open_video(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if len(clip) == count:
                break
            if index >= start:
                clip.append(frame.to_ndarray(format="rgb24"))
    if len(clip) < count:
        raise ValueError(f"{path}: expected at least {start + count} frames")
    return np.stack(clip)


def count_video_frames(path):
    """Number of frames of a video file (PyAV; decodes it when the container does not say)."""
    with _open_video(path) as container:
        stream = container.streams.video[0]
        return stream.frames or sum(1 for _ in container.decode(stream))


def _open_video(path):
    try:
        import av
    except ImportError:
        raise ImportError(
            f"{path}: reading video files needs PyAV: pip install keras-i2i[video]"
        ) from None
    try:
        return av.open(path)
    except (OSError, ValueError, av.error.FFmpegError) as error:
        raise ValueError(f"{path}: cannot be read as a video ({error})") from None


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

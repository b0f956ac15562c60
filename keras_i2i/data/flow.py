"""Reference optical flow for vid2vid without FlowNet2's CUDA ops: OpenCV's DIS flow.

vid2vid trains its flow head against FlowNet2's flow of the real frames. Here the reference
flow is DIS (Kroeger et al. 2016, `cv2.DISOpticalFlow`), a classical CPU method, through the
optional extra `pip install keras-i2i[flow]` (opencv-python-headless). Settings: the MEDIUM
preset with the finest scale 0 (full resolution): MEDIUM's own finest scale 1 stops at half
resolution, which on 64-pixel frames raised the error on moving objects by 60%.

Flows follow `FlowWarp`'s convention: the backward flow of frame t against frame t-1, float32
(H, W, 2) (dx, dy) in pixels, such that frame_t(x, y) ~ frame_{t-1}(x + dx, y + dy).

>>> clips = with_flow(video_clips("data/street"), cache="cache/flow")   # doctest: +SKIP
"""

import functools
import hashlib
import os
import tempfile

import numpy as np
import tensorflow as tf

_SETTINGS = "dis-medium-finest0-luma8"  # part of every cache key: change it with the method


def dis_flow(previous, current):
    """DIS flow of `current` against `previous`, float (H, W, 3) frames in [-1, 1]: float32
    (H, W, 2), so that warping `previous` by it (`FlowWarp`) gives `current`."""
    return _flow(_luma(previous), _luma(current))


def with_flow(dataset, cache=None):
    """Adds "flow" to a dataset of clips: the DIS flow (`dis_flow`) of each frame of "image"
    against the frame before it.

    Elements that already carry "flow" (the synthetic videos, flows a user supplies) pass
    unchanged. The flow is computed on the clips as they arrive, after any random crop/flip.

    Args:
        dataset: `tf.data.Dataset` of dicts with "image" float32 (B, T, H, W, 3) or (T, H, W, 3)
            in [-1, 1].
        cache: optional folder keeping each frame pair's flow, `<sha256>.npy`, keyed by the
            8-bit luma frames DIS sees (and `_SETTINGS`), so an entry is reused exactly when
            the same two frames recur, whichever file, crop or clip they came from: across
            epochs of a deterministic pipeline (evaluation, or no random crop/flip: the clip
            start may be random). With random crops most pairs are new every epoch, and the
            cache only grows.

    Returns:
        The dataset with "flow" float32 (B, T-1, H, W, 2) or (T-1, H, W, 2) added.
    """
    spec = dataset.element_spec
    if "flow" in spec:
        return dataset
    if "image" not in spec or spec["image"].shape.rank not in (4, 5):
        raise ValueError(
            f"with_flow: expected clips with 'image' (B, T, H, W, 3) or (T, H, W, 3), got {spec}"
        )
    _cv2()
    compute = functools.partial(clip_flow, cache=cache)
    *outer, frames, height, width, _ = spec["image"].shape.as_list()
    shape = outer + [None if frames is None else frames - 1, height, width, 2]

    def add(element):
        flow = tf.numpy_function(compute, [element["image"]], tf.float32, stateful=False)
        return {**element, "flow": tf.ensure_shape(flow, shape)}

    flows = dataset.map(add, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    if hasattr(dataset, "skipped"):
        flows.skipped = dataset.skipped
    return flows


def clip_flow(frames, cache=None):
    """numpy (..., T, H, W, 3) frames in [-1, 1] -> float32 (..., T-1, H, W, 2) DIS flows of
    each frame against the one before, through the `cache` folder if given (see `with_flow`)."""
    frames = np.asarray(frames, np.float32)
    *outer, count, height, width, _ = frames.shape
    clips = frames.reshape((-1, count, height, width, 3))
    flows = np.zeros((len(clips), max(count - 1, 0), height, width, 2), np.float32)
    for clip, flow in zip(clips, flows):
        luma = [_luma(frame) for frame in clip]
        for t in range(1, count):
            flow[t - 1] = _cached_flow(luma[t - 1], luma[t], cache)
    return flows.reshape(tuple(outer) + flows.shape[1:])


def _cached_flow(previous, current, cache):
    if cache is None:
        return _flow(previous, current)
    key = hashlib.sha256(f"{_SETTINGS} {previous.shape}".encode())
    key.update(previous.tobytes())
    key.update(current.tobytes())
    path = os.path.join(cache, f"{key.hexdigest()}.npy")
    if os.path.exists(path):
        return np.load(path)
    flow = _flow(previous, current)
    _save_atomically(path, flow)
    return flow


def _save_atomically(path, array):
    """np.save to a temporary file beside `path`, then a rename: parallel writers of one key
    and interrupted runs never leave a partial entry."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(handle, "wb") as file:
        np.save(file, array)
    os.replace(temporary, path)


def _luma(frame):
    """float (H, W, 3) in [-1, 1] -> uint8 (H, W) luma, what DIS takes."""
    cv2 = _cv2()
    rgb = np.clip(np.round((np.asarray(frame, np.float32) + 1.0) * 127.5), 0, 255)
    return cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _flow(previous, current):
    """DIS on uint8 (H, W) luma frames: float32 (H, W, 2) with current(x) ~ previous(x + flow).

    DIS's `calc(I0, I1)` gives the flow u with I0(x) ~ I1(x + u(x)): so I0 is `current`."""
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    dis.setFinestScale(0)
    return dis.calc(current, previous, None).astype(np.float32)


def _cv2():
    try:
        import cv2
    except ImportError:
        raise ImportError(
            "optical flow (keras_i2i.data.flow) needs OpenCV: pip install keras-i2i[flow]"
        ) from None
    return cv2

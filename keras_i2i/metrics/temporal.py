"""Temporal consistency of a video: the flow-warping error (Lai et al., ECCV 2018, "Learning
Blind Video Temporal Consistency"; the measure vid2vid's warping loss trains for), with
reference flows in `FlowWarp`'s convention."""

import numpy as np
from keras import ops

from keras_i2i.layers import FlowWarp


def warping_error(frames, flows, mask=None):
    """Mean over frames t >= 1 of `|frame_t - warp(frame_(t-1), flow_t)|`: how far each frame
    is from its predecessor carried along the reference flow (0 for a video that moves
    exactly as the flow says).

    Args:
        frames: float (..., T, H, W, C), T >= 2, e.g. in [-1, 1]; any leading axes (videos).
        flows: float (..., T - 1, H, W, 2): the backward flow of frame t against frame t - 1
            in pixels, (dx, dy), frame_t(x, y) ~ frame_(t-1)(x + dx, y + dy) (`FlowWarp`,
            `keras_i2i.data.synthetic.videos`' "flow").
        mask: optional (..., T - 1, H, W) or (..., T - 1, H, W, 1), nonzero where frame t is
            scored (e.g. `same_instance_mask`: pixels not occluded in frame t - 1); the
            error is then the mean over those pixels.

    Returns:
        The mean absolute difference over the scored pixels and the channels (the frames'
        units), a float.
    """
    frames = np.asarray(frames, "float32")
    flows = np.asarray(flows, "float32")
    if frames.ndim < 4 or frames.shape[-4] < 2:
        raise ValueError(f"frames must be (..., T, H, W, C) with T >= 2, got shape "
                         f"{frames.shape}")
    expected = frames.shape[:-4] + (frames.shape[-4] - 1,) + frames.shape[-3:-1] + (2,)
    if flows.shape != expected:
        raise ValueError(f"flows must be (..., T - 1, H, W, 2) = {expected} for frames of "
                         f"shape {frames.shape}, got {flows.shape}")
    size = frames.shape[-3:]
    warped = FlowWarp(dtype="float32")([frames[..., :-1, :, :, :].reshape((-1, *size)),
                                        flows.reshape((-1, *size[:2], 2))])
    error = np.abs(frames[..., 1:, :, :, :].reshape((-1, *size)) - ops.convert_to_numpy(warped))
    if mask is None:
        return float(error.mean())
    mask = np.asarray(mask)
    if mask.shape not in (expected[:-1], expected[:-1] + (1,)):
        raise ValueError(f"mask must be (..., T - 1, H, W) = {expected[:-1]} (or with a "
                         f"last axis of 1) for frames of shape {frames.shape}, got {mask.shape}")
    weights = (mask != 0).reshape((-1, *size[:2], 1))
    if not weights.any():
        raise ValueError("mask scores no pixel")
    return float((error * weights).sum() / (weights.sum() * size[-1]))


def same_instance_mask(instances, flows):
    """Where frame t is visible in frame t - 1: the pixels whose source under `flows` lies in
    the image and whose every bilinear source pixel in frame t - 1 (those `FlowWarp` mixes
    with a nonzero weight) belongs to their own instance. Occluded, uncovered and
    out-of-view pixels and those on a moving boundary are left out.

    Args:
        instances: int (..., T, H, W) or (..., T, H, W, 1) instance ids of the frames.
        flows: float (..., T - 1, H, W, 2), as `warping_error`'s.

    Returns:
        bool (..., T - 1, H, W): the `mask` of `warping_error`.
    """
    instances, flows = np.asarray(instances), np.asarray(flows, "float32")
    if instances.ndim == flows.ndim and instances.shape[-1] == 1:
        instances = instances[..., 0]
    if instances.ndim < 3 or flows.shape != instances.shape[:-3] + (
            instances.shape[-3] - 1,) + instances.shape[-2:] + (2,):
        raise ValueError(f"instances (..., T, H, W) and flows (..., T - 1, H, W, 2) disagree: "
                         f"shapes {instances.shape} and {flows.shape}")
    height, width = instances.shape[-2:]
    previous = instances[..., :-1, :, :].reshape((-1, height, width))
    current = instances[..., 1:, :, :].reshape((-1, height, width))
    flows = flows.reshape((-1, height, width, 2))
    x = np.arange(width)[None, None, :] + flows[..., 0]
    y = np.arange(height)[None, :, None] + flows[..., 1]
    visible = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    warp = FlowWarp(dtype="float32")
    found = np.zeros(current.shape, bool)
    for instance_id in np.unique(current):
        own = (previous == instance_id).astype("float32")[..., None]
        # 1 exactly when every source pixel with a nonzero weight is this instance's.
        share = ops.convert_to_numpy(warp([own, flows]))[..., 0]
        found |= (current == instance_id) & (share >= 1.0 - 1e-6)
    lead = instances.shape[:-3] + (instances.shape[-3] - 1,)
    return (visible & found).reshape(lead + (height, width))

"""Procedural scenes in pure numpy: label maps, instance maps, renderings, motion, boxes, an oracle.

A scene is sky above a horizon, ground below, and a few objects (balls, blocks, cones) drawn
back to front. Every class has its own colour *chromaticity* (colour / sum of channels) and
texture; the texture and a small per-instance colour jitter only scale the brightness or stay
well inside the class's chromaticity cell, so the oracle (`segment`: nearest class
chromaticity per pixel) recovers the label map of a clean rendering exactly, and measures,
imperfectly, the label fidelity of a generated image. Objects move at constant velocity with
their texture attached, so the backward flow between frames is known exactly.

All randomness comes from `np.random.default_rng(seed)`; the same seed gives the same scene.
"""

import dataclasses

import numpy as np

CLASS_NAMES = ("sky", "ground", "ball", "block", "cone")
NUM_CLASSES = len(CLASS_NAMES)
THING_CLASSES = (2, 3, 4)
DOMAINS = ("day", "night", "edges")
# Class chromaticities (r, g, b summing to 1) at least 0.2 apart, scaled to colours whose
# channels stay below 1 under the per-instance jitter.
_CHROMA = np.array(
    [
        [0.20, 0.30, 0.50],
        [0.45, 0.35, 0.20],
        [0.65, 0.17, 0.18],
        [0.20, 0.60, 0.20],
        [0.45, 0.10, 0.45],
    ]
)
PALETTE = (0.9 * _CHROMA / _CHROMA.max(axis=1, keepdims=True)).astype(np.float32)
NIGHT_TINT = np.array([0.35, 0.42, 0.70], np.float32)
_JITTER = 0.08  # per-instance colour scale, per channel: 1 +- _JITTER


@dataclasses.dataclass
class Scene:
    """Scene parameters; per-object arrays have one row per object, in drawing order.

    Attributes:
        size: (height, width) in pixels.
        horizon: row of the first ground pixel.
        ground_texture: (4,) periods and phases of the ground's grain.
        classes: (N,) int class ids (THING_CLASSES).
        centers: (N, 2) (x, y) at time 0; velocities: (N, 2) pixels per frame.
        extents: (N, 2) half-width and half-height (a ball uses the first as radius).
        colour_scales: (N, 3) per-instance factors on the class colour.
        textures: (N, 3) stripe period (pixels), angle and phase.
    """

    size: tuple
    horizon: int
    ground_texture: np.ndarray
    classes: np.ndarray
    centers: np.ndarray
    velocities: np.ndarray
    extents: np.ndarray
    colour_scales: np.ndarray
    textures: np.ndarray


@dataclasses.dataclass
class Frame:
    """One rasterized time step: (H, W) maps.

    Attributes:
        label: int32 class ids. instance: int32, Cityscapes style (class * 1000 + k for the
            k-th object of a class, the class id for sky and ground).
        owner: int32, 0 sky, 1 ground, 2 + j object j. u, v: float32 coordinates of the pixel
            centre in its owner's frame (object centre for objects, the image for sky/ground).
    """

    label: np.ndarray
    instance: np.ndarray
    owner: np.ndarray
    u: np.ndarray
    v: np.ndarray


def random_scene(seed, size=(64, 64), max_objects=5, max_speed=0.0):
    """A random scene; `max_speed` > 0 gives the objects velocities (pixels per frame)."""
    rng = np.random.default_rng(seed)
    height, width = image_size(size)
    count = int(rng.integers(2, max_objects + 1))
    scale = min(height, width)
    centers = rng.uniform([0.1 * width, 0.35 * height], [0.9 * width, 0.95 * height], (count, 2))
    order = np.argsort(centers[:, 1])  # farther (higher) objects first
    return Scene(
        size=(height, width),
        horizon=int(rng.integers(int(0.3 * height), int(0.55 * height) + 1)),
        ground_texture=np.concatenate([rng.uniform(6, 14, 2), rng.uniform(0, 2 * np.pi, 2)]),
        classes=rng.choice(THING_CLASSES, count)[order],
        centers=centers[order],
        velocities=rng.uniform(-max_speed, max_speed, (count, 2)),
        extents=rng.uniform(0.07 * scale, 0.17 * scale, (count, 2))[order],
        colour_scales=rng.uniform(1 - _JITTER, 1 + _JITTER, (count, 3))[order],
        textures=np.stack(
            [
                rng.uniform(5, 10, count),
                rng.uniform(0, np.pi, count),
                rng.uniform(0, 2 * np.pi, count),
            ],
            1,
        ),
    )


def rasterize(scene, time=0.0):
    """The scene at `time` (frames) as a `Frame`; objects are drawn back to front."""
    height, width = scene.size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    owner = np.where(y < scene.horizon, 0, 1).astype(np.int32)
    u, v = x.copy(), y.copy()
    for j, (kind, center, extent) in enumerate(zip(scene.classes, scene.centers, scene.extents)):
        cx, cy = center + time * scene.velocities[j]
        du, dv = x - cx, y - cy
        inside = _inside(kind, du, dv, extent)
        owner[inside], u[inside], v[inside] = j + 2, du[inside], dv[inside]
    label = np.concatenate([[0, 1], scene.classes]).astype(np.int32)[owner]
    return Frame(label, _instance_ids(scene, owner, label), owner, u, v)


def _inside(kind, du, dv, extent):
    half_width, half_height = extent
    if kind == 2:  # ball
        return du**2 + dv**2 <= half_width**2
    if kind == 3:  # block
        return (np.abs(du) <= half_width) & (np.abs(dv) <= half_height)
    # cone: apex at the top, base at the bottom
    return (np.abs(dv) <= half_height) & (
        np.abs(du) <= half_width * (dv + half_height) / (2 * half_height)
    )


def _instance_ids(scene, owner, label):
    per_class = np.zeros(len(scene.classes), np.int32)
    for j, kind in enumerate(scene.classes):
        per_class[j] = np.sum(scene.classes[:j] == kind)
    ids = np.concatenate([[0, 1], scene.classes * 1000 + per_class]).astype(np.int32)
    return np.where(owner >= 2, ids[owner], label)


def render(scene, frame, domain="day"):
    """The frame rendered in a domain ("day", "night" or "edges"): float32 (H, W, 3) in [-1, 1]."""
    if domain == "edges":
        return np.repeat(1.0 - 2.0 * _boundaries(frame.instance)[..., None], 3, axis=-1).astype(
            np.float32
        )
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    colour = np.concatenate([PALETTE[:2], PALETTE[scene.classes] * scene.colour_scales])[
        frame.owner
    ]
    rgb = colour * _brightness(scene, frame)[..., None]
    if domain == "night":
        rgb = rgb * NIGHT_TINT
    return (2.0 * rgb - 1.0).astype(np.float32)


def _brightness(scene, frame):
    """Per-pixel brightness in [0.55, 1], a function of the owner's coordinates (u, v)."""
    height = scene.size[0]
    owner, u, v = frame.owner, frame.u, frame.v
    p1, p2, f1, f2 = scene.ground_texture
    sky = 1.0 - 0.35 * v / height
    ground = 0.8 + 0.15 * np.sin(2 * np.pi * u / p1 + f1) * np.sin(2 * np.pi * v / p2 + f2)
    j = np.maximum(owner - 2, 0)
    kind = np.concatenate([[0, 1], scene.classes])[owner]
    period, angle, phase = (scene.textures[j, i] for i in range(3))
    radius = scene.extents[j, 0]
    ball = 1.0 - 0.4 * np.minimum((u**2 + v**2) / radius**2, 1.0)
    block = 0.8 + 0.15 * np.sin(
        2 * np.pi * (u * np.cos(angle) + v * np.sin(angle)) / period + phase
    )
    cone = 0.8 + 0.15 * np.sin(2 * np.pi * v / period + phase)
    return np.select([kind == 0, kind == 1, kind == 2, kind == 3], [sky, ground, ball, block], cone)


def _boundaries(instance):
    """1 where a pixel's instance differs from its right or lower neighbour."""
    edge = np.zeros(instance.shape, bool)
    edge[:, :-1] |= instance[:, :-1] != instance[:, 1:]
    edge[:-1, :] |= instance[:-1, :] != instance[1:, :]
    return edge.astype(np.float32)


def backward_flow(scene, frame):
    """Flow of frame t against frame t-1: float32 (H, W, 2) (dx, dy) in pixels, such that
    frame_t(x, y) = frame_{t-1}(x + dx, y + dy) wherever that point was not occluded."""
    velocities = np.concatenate([np.zeros((2, 2)), scene.velocities])
    return (-velocities[frame.owner]).astype(np.float32)


def object_boxes(frame):
    """Boxes of the visible objects: (classes (N,) int32, boxes (N, 4) float32 x1, y1, x2, y2),
    pixel i spanning [i, i+1), in instance-id order."""
    ids = np.unique(frame.instance[frame.owner >= 2])
    boxes = np.zeros((len(ids), 4), np.float32)
    for n, instance_id in enumerate(ids):
        rows, cols = np.nonzero(frame.instance == instance_id)
        boxes[n] = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    return (ids // 1000).astype(np.int32), boxes


def segment(images, domain="day"):
    """The oracle: labels of rendered images by nearest class chromaticity, per pixel.

    Args:
        images: float (..., H, W, 3) in [-1, 1], "day" or "night" renderings (or generated
            images meant to look like them).

    Returns:
        int32 (..., H, W) class ids.
    """
    palette = PALETTE * (NIGHT_TINT if domain == "night" else 1.0)
    rgb = np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)
    chroma = rgb / np.maximum(rgb.sum(-1, keepdims=True), 1e-6)
    reference = palette / palette.sum(-1, keepdims=True)
    distances = np.sum((chroma[..., None, :] - reference) ** 2, axis=-1)
    return np.argmin(distances, axis=-1).astype(np.int32)


def image_size(size):
    return (size, size) if np.isscalar(size) else tuple(size)

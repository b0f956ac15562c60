"""Object boxes in INIT: cropping objects out of images, pasting translated ones back.

Boxes are `(x1, y1, x2, y2)` in pixels, pixel i spanning [i, i + 1) (as `keras_i2i.data.boxes`
gives them); a batch holds (B, N, 4) boxes with a (B, N) validity (padding rows are 0).
Everything here is `keras.ops` with static shapes: XLA-compilable, differentiable in the
pixels, under either backend.
"""

import numpy as np
from keras import ops

from keras_i2i.layers.warp import bilinear_sample


def _centres(boxes, size, axis):
    """Pixel coordinates (B, N, size) of `size` evenly spaced sample centres across each box
    along `axis` (0: x, 1: y)."""
    start, end = boxes[..., axis], boxes[..., axis + 2]
    fractions = (ops.arange(size, dtype="float32") + 0.5) / size
    return start[..., None] + fractions * (end - start)[..., None] - 0.5


def crop_objects(images, boxes, size):
    """Crop-and-resize: every box of every image resampled bilinearly to `size` x `size`.

    Args:
        images: (B, H, W, C).
        boxes: float (B, N, 4).

    Returns:
        float32 (B * N, size, size, C), image-major (crop b * N + n is box n of image b).
    """
    boxes = ops.cast(boxes, "float32")
    grid = tuple(ops.shape(boxes)[:2]) + (size, size)
    x = ops.broadcast_to(_centres(boxes, size, 0)[:, :, None, :], grid)
    y = ops.broadcast_to(_centres(boxes, size, 1)[:, :, :, None], grid)
    crops = bilinear_sample(images, x, y)
    shape = ops.shape(crops)
    return ops.reshape(crops, (shape[0] * shape[1], size, size, shape[-1]))


def paste_objects(objects, boxes, height, width):
    """The inverse of `crop_objects`: each crop resampled into its box on an image grid.

    Args:
        objects: (B * N, S, S, C) crops, image-major.
        boxes: float (B, N, 4).
        height, width: the image size.

    Returns:
        float32 (B, N, height, width, C); pixels outside a box hold the crop's border.
    """
    boxes = ops.cast(boxes, "float32")
    batch, count = ops.shape(boxes)[0], ops.shape(boxes)[1]
    size = ops.shape(objects)[1]
    flat = ops.reshape(boxes, (-1, 4))

    def crop_coordinates(pixels, axis):
        start, end = flat[:, axis, None], flat[:, axis + 2, None]
        centres = ops.arange(pixels, dtype="float32")[None, :] + 0.5
        return (centres - start) / ops.maximum(end - start, 1e-6) * size - 0.5

    u = crop_coordinates(width, 0)[:, None, :]
    v = crop_coordinates(height, 1)[:, :, None]
    grid = (batch * count, height, width)
    placed = bilinear_sample(objects, ops.broadcast_to(u, grid), ops.broadcast_to(v, grid))
    return ops.reshape(placed, (batch, count, height, width, ops.shape(objects)[-1]))


def box_weights(boxes, valid, height, width, border=0.1):
    """Soft masks of the boxes: 1 inside, 0 outside and for padding, ramping linearly across
    each box edge (0.5 on it) over `border` times the box side; at least one pixel, which makes
    `border=0` the exact mask of a box on whole pixels.

    Args:
        boxes: float (B, N, 4); valid: (B, N) bool or 0/1.

    Returns:
        float32 (B, N, height, width).
    """
    boxes = ops.cast(boxes, "float32")

    def ramp(pixels, axis):
        start, end = boxes[..., axis, None], boxes[..., axis + 2, None]
        centres = ops.arange(pixels, dtype="float32") + 0.5
        inside = ops.minimum(centres - start, end - centres)
        width_of_border = ops.maximum(border * (end - start), 1.0)
        return ops.clip(inside / width_of_border + 0.5, 0.0, 1.0)

    weights = ramp(height, 1)[..., :, None] * ramp(width, 0)[..., None, :]
    return weights * ops.cast(valid, "float32")[..., None, None]


def compose(background, objects, boxes, valid, border=0.1):
    """INIT's merge: the translated objects pasted into their boxes over the translated
    background, with soft borders (`box_weights`).

    Each pixel takes `(1 - alpha) * background + alpha * objects`, `alpha` the largest box
    weight at that pixel and `objects` the box-weighted mean of the objects covering it (so
    overlapping objects blend instead of the last one winning).

    Args:
        background: (B, H, W, C) the translated image.
        objects: (B * N, S, S, C) the translated crops, image-major.
        boxes: (B, N, 4); valid: (B, N).

    Returns:
        float32 (B, H, W, C).
    """
    height, width = ops.shape(background)[1], ops.shape(background)[2]
    weights = box_weights(boxes, valid, height, width, border)[..., None]
    placed = paste_objects(objects, boxes, height, width)
    alpha = ops.max(weights, axis=1)
    mixed = ops.sum(weights * placed, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1e-6)
    return (1.0 - alpha) * ops.cast(background, "float32") + alpha * mixed


def background_mask(boxes, valid, height, width):
    """1 outside every (valid) box, 0 inside: float32 (B, H, W, 1), the region of the
    background style."""
    inside = box_weights(boxes, valid, height, width, border=0.0) > 0.5
    return 1.0 - ops.cast(ops.any(inside, axis=1), "float32")[..., None]


def check_boxes(boxes, height, width, num_classes, max_boxes, what="boxes"):
    """Per image box rows -> padded numpy arrays for the model, with one-line errors.

    Args:
        boxes: a sequence over images of (n_i, 4) `(x1, y1, x2, y2)` or (n_i, 5)
            `(class, x1, y1, x2, y2)` rows (the annotation files' order), in pixels.
        height, width: the images' size.
        num_classes: classes must lie in [0, num_classes).
        max_boxes: the most boxes an image may have.

    Returns:
        `(boxes float32 (B, N, 4), valid bool (B, N))`, N the most boxes of any image (at least
        1). Boxes reaching past the image are clipped to it; a box entirely outside the image,
        with x2 <= x1 or y2 <= y1, or a class out of range, is an error naming the image and the
        box.
    """
    rows = [np.asarray(b, "float32").reshape(-1, np.shape(b)[-1] if np.size(b) else 4)
            for b in boxes]
    count = max([len(r) for r in rows] + [1])
    padded = np.zeros((len(rows), count, 4), "float32")
    valid = np.zeros((len(rows), count), bool)
    for image, image_rows in enumerate(rows):
        if image_rows.shape[-1] not in (4, 5):
            raise ValueError(f"{what}[{image}]: expected rows of (x1, y1, x2, y2) or (class, "
                             f"x1, y1, x2, y2), got shape {image_rows.shape}")
        if len(image_rows) > max_boxes:
            raise ValueError(f"{what}[{image}]: {len(image_rows)} boxes, more than the model's "
                             f"max_boxes={max_boxes}")
        for index, row in enumerate(image_rows):
            padded[image, index] = _checked_box(row, height, width, num_classes,
                                                f"{what}[{image}] box {index} {row.tolist()}")
            valid[image, index] = True
    return padded, valid


def _checked_box(row, height, width, num_classes, name):
    if len(row) == 5:
        label = row[0]
        if label != int(label) or not 0 <= label < num_classes:
            raise ValueError(f"{name}: class {label:g} out of range, expected 0 <= class < "
                             f"{num_classes}")
        row = row[1:]
    x1, y1, x2, y2 = row
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"{name}: expected x1 < x2 and y1 < y2")
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        raise ValueError(f"{name}: entirely outside the {width}x{height} image")
    return np.clip(row, 0, [width, height, width, height])

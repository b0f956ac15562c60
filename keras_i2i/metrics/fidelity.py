"""Label fidelity: how well generated images keep their input label maps (SPADE's
segmentation metrics), measured with any segmenter, e.g. the synthetic scenes' exact oracle
`keras_i2i.data.synthetic.segment`, so that no pretrained network is needed."""

import numpy as np


def label_fidelity(images, labels, num_classes, segmenter):
    """Pixel accuracy and mean IoU of `segmenter(images)` against `labels`.

    Args:
        images: float (B, H, W, 3) in [-1, 1], generated from `labels`.
        labels: int (B, H, W) or (B, H, W, 1), the input label maps; ids outside
            0..num_classes-1 (a dontcare class) are ignored.
        num_classes: number of classes scored.
        segmenter: images -> int (B, H, W) predicted class ids.

    Returns:
        {"pixel_accuracy": float, "mean_iou": float}; the mean IoU averages over the classes
        present in `labels`.

    >>> from keras_i2i.data import synthetic
    >>> sample = synthetic.random_scene(0)
    >>> frame = synthetic.rasterize(sample)
    >>> image = synthetic.render(sample, frame)[None]
    >>> label_fidelity(image, frame.label[None], synthetic.NUM_CLASSES, synthetic.segment)
    {'pixel_accuracy': 1.0, 'mean_iou': 1.0}
    """
    truth = np.asarray(labels).reshape(np.shape(labels)[:3])
    predicted = np.asarray(segmenter(np.asarray(images)))
    if predicted.shape != truth.shape:
        raise ValueError(
            f"segmenter gave shape {predicted.shape}, expected the labels' {truth.shape}"
        )
    return fidelity_scores(confusion_matrix(truth, predicted, num_classes))


def confusion_matrix(labels, predicted, num_classes):
    """Pixel counts (num_classes, num_classes + 1): row = label, column = predicted class, the
    last column predictions outside 0..num_classes-1; labels outside it are left out. Sums of
    batches' matrices score a split batch by batch (`fidelity_scores`)."""
    truth = np.asarray(labels).astype(np.int64)
    predicted = np.asarray(predicted).astype(np.int64)
    scored = (truth >= 0) & (truth < num_classes)
    predicted = predicted[scored]
    predicted = np.where((predicted >= 0) & (predicted < num_classes), predicted, num_classes)
    return np.bincount(
        truth[scored] * (num_classes + 1) + predicted, minlength=num_classes * (num_classes + 1)
    ).reshape(num_classes, num_classes + 1)


def fidelity_scores(confusion):
    """`{"pixel_accuracy", "mean_iou"}` of a `confusion_matrix`; the mean IoU averages over
    the classes present in the labels."""
    num_classes = len(confusion)
    hits = np.diag(confusion[:, :num_classes])
    present = confusion.sum(axis=1) > 0
    union = confusion.sum(axis=1) + confusion[:, :num_classes].sum(axis=0) - hits
    return {
        "pixel_accuracy": float(hits.sum() / max(confusion.sum(), 1)),
        "mean_iou": float(np.mean(hits[present] / union[present])) if present.any() else 0.0,
    }

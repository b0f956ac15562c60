"""Evaluation: label fidelity, FID/KID, output diversity and temporal consistency."""

from keras_i2i.metrics.diversity import mean_pairwise_distance, mean_pairwise_lpips
from keras_i2i.metrics.fid import (
    FeatureStatistics,
    FIDInceptionFeatures,
    KerasInceptionFeatures,
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    kernel_inception_distance,
    load_statistics,
    reference_statistics,
    save_statistics,
)
from keras_i2i.metrics.fidelity import confusion_matrix, fidelity_scores, label_fidelity
from keras_i2i.metrics.inception import convert_fid_inception, fid_inception_v3, fid_preprocess
from keras_i2i.metrics.lpips import LPIPS, convert_lpips
from keras_i2i.metrics.temporal import same_instance_mask, warping_error

__all__ = [
    "FIDInceptionFeatures",
    "FeatureStatistics",
    "KerasInceptionFeatures",
    "LPIPS",
    "convert_fid_inception",
    "confusion_matrix",
    "convert_lpips",
    "feature_statistics",
    "fidelity_scores",
    "fid_inception_v3",
    "fid_preprocess",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "kernel_inception_distance",
    "label_fidelity",
    "load_statistics",
    "mean_pairwise_distance",
    "mean_pairwise_lpips",
    "reference_statistics",
    "same_instance_mask",
    "save_statistics",
    "warping_error",
]

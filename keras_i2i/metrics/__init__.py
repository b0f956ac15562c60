"""Evaluation: label fidelity, FID/KID, output diversity and temporal consistency."""

from keras_i2i.metrics.diversity import mean_pairwise_distance
from keras_i2i.metrics.fid import InceptionFeatures, frechet_distance, kernel_inception_distance
from keras_i2i.metrics.fidelity import label_fidelity
from keras_i2i.metrics.temporal import same_instance_mask, warping_error

__all__ = ["InceptionFeatures", "frechet_distance", "kernel_inception_distance", "label_fidelity",
           "mean_pairwise_distance", "same_instance_mask", "warping_error"]

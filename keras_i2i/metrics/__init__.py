"""Evaluation: label fidelity, FID/KID and output diversity."""

from keras_i2i.metrics.diversity import mean_pairwise_distance
from keras_i2i.metrics.fid import InceptionFeatures, frechet_distance, kernel_inception_distance
from keras_i2i.metrics.fidelity import label_fidelity

__all__ = ["InceptionFeatures", "frechet_distance", "kernel_inception_distance", "label_fidelity",
           "mean_pairwise_distance"]

"""FID, KID and pairwise diversity against closed forms."""

import numpy as np
import pytest

from keras_i2i.metrics.diversity import mean_pairwise_distance
from keras_i2i.metrics.fid import (InceptionFeatures, frechet_distance,
                                   kernel_inception_distance)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (20000, 2)) * [1.0, 2.0]
    b = rng.normal(0.0, 1.0, (20000, 2)) * [3.0, 0.5] + [1.0, -2.0]
    # For diagonal covariances: |mu_a - mu_b|^2 + sum_i (s_a,i - s_b,i)^2.
    expected = (1.0 + 4.0) + (1.0 - 3.0) ** 2 + (2.0 - 0.5) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


def test_frechet_distance_of_a_set_to_itself_is_zero():
    features = np.random.default_rng(1).normal(size=(500, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, _ = kernel_inception_distance(a, b, num_subsets=10, subset_size=200)
    different, _ = kernel_inception_distance(a, b + 1.0, num_subsets=10, subset_size=200)
    assert abs(same) < 0.01 and different > 0.1


def test_kid_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        kernel_inception_distance(np.zeros((1, 4)), np.zeros((5, 4)))


def test_inception_features_shape_without_downloading():
    images = np.random.default_rng(3).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    features = InceptionFeatures(weights=None, input_size=75, batch_size=2)(images)
    assert features.shape == (3, 2048) and np.isfinite(features).all()


def test_mean_pairwise_distance_is_the_mean_l1_over_pairs():
    images = np.stack([np.full((2, 2, 3), v) for v in (0.0, 0.5, -1.0)])
    assert mean_pairwise_distance(images) == pytest.approx((0.5 + 1.0 + 1.5) / 3)
    with pytest.raises(ValueError, match="at least two images"):
        mean_pairwise_distance(images[:1])

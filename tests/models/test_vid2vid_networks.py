"""vid2vid's networks: contracts, the composition of the outputs, the discriminators' widths,
and the parameter counts of the reference's street presets."""

import keras
import numpy as np
import pytest

from keras_i2i.layers import FlowWarp
from keras_i2i.models.discriminators import MultiscaleDiscriminator
from keras_i2i.models.vid2vid import (
    CompositeGenerator,
    CompositeLocalGenerator,
    Vid2VidGenerator,
    multiscale_discriminator,
)
from tests.testing import run_layer_test

rng = np.random.default_rng(0)
# Tiny networks: 4 labels + edges, 3 frames, 16 x 32 inputs.
LABEL_NC, N_FRAMES, HEIGHT, WIDTH = 4, 3, 16, 32
TINY = dict(ngf=8, n_downsample_G=2, n_blocks=2, n_blocks_local=1, fg=True, fg_labels=(1, 3))

# The reference's parameter counts (sum of `p.numel()` over `parameters()`), established by
# instantiating NVIDIA/vid2vid's `models/networks.py` with torch as `Vid2VidModelG` and
# `Vid2VidModelD` do for scripts/street/train_{512,1024,2048}.sh: label_nc 35 + instance
# edges, 3 frames (108 generator input channels, 6 previous-image channels), --fg, ngf 128,
# n_downsample_G 3, n_blocks 9, n_blocks_local 3, norm batch, ndf 64, n_layers_D 3; D sees
# 35 + 1 + 3 channels, each of the n_scales_temporal = 2 D_T 3 frames and 2 flows (13).
# cityscapes_512: n_scales_spatial 1, num_D 2; 1024: 2 and 3; 2048: 3 and 4.
REFERENCE_GENERATOR_PARAMETERS = [411_335_241, 2_880_489, 859_641]  # G0, G1, G2
REFERENCE_DISCRIMINATOR_PARAMETERS = {2: 5_606_786, 3: 8_410_179, 4: 11_213_572}  # by num_D
REFERENCE_TEMPORAL_PARAMETERS = {2: 5_553_538, 3: 8_330_307, 4: 11_107_076}  # each D_T
STREET_GENERATOR = dict(ngf=128, n_downsample_G=3, n_blocks=9, fg=True, norm="batch")


def _labels(height=HEIGHT, width=WIDTH):
    """One-hot labels and random edges of N_FRAMES frames, (2, H, W, N_FRAMES * 5)."""
    frames = []
    for _ in range(N_FRAMES):
        one_hot = np.eye(LABEL_NC, dtype="float32")[rng.integers(0, LABEL_NC, (2, height, width))]
        edges = (rng.random((2, height, width, 1)) < 0.2).astype("float32")
        frames += [one_hot, edges]
    return np.concatenate(frames, axis=-1)


def _inputs(height=HEIGHT, width=WIDTH):
    prev = rng.uniform(-1, 1, (2, height, width, 3 * (N_FRAMES - 1))).astype("float32")
    return {"label": _labels(height, width), "prev_images": prev}


def _count(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def _build(generator, label_channels, prev_channels=6):
    generator.build({"label": (None, None, None, label_channels),
                     "prev_images": (None, None, None, prev_channels)})
    return generator


def _run_generator_test(scales, **checks):
    """`run_layer_test` of a `Vid2VidGenerator`; outputs sorted by key: flow, image,
    image_pyramid, image_raw, weight."""
    image = (2, HEIGHT, WIDTH, 3)
    pyramid = [image, (2, HEIGHT // 2, WIDTH // 2, 3)][:scales]
    generator, outputs = run_layer_test(
        Vid2VidGenerator,
        {**TINY, "n_scales_spatial": scales, "norm": "instance"},
        _inputs(),
        expected_output_shape=[(2, HEIGHT, WIDTH, 2), image, pyramid, image, (2, HEIGHT, WIDTH, 1)],
        **checks,
    )
    assert [level.name for level in generator.levels] == [f"generator{s}" for s in range(scales)]
    assert np.all((outputs["weight"] >= 0) & (outputs["weight"] <= 1))


def test_generator_contract():
    """Shapes, config and serialization round trips, float16 outputs under mixed precision."""
    _run_generator_test(1, run_jit_compile_check=False, run_dynamic_shape_check=False)


@pytest.mark.slow
@pytest.mark.parametrize("scales", [1, 2])
def test_generator_contract_under_xla_and_dynamic_shapes(scales):
    _run_generator_test(scales)


def test_previous_images_as_a_pyramid():
    """A single `prev_images` tensor is the pyramid of its downsampled copies."""
    generator = Vid2VidGenerator(**TINY, n_scales_spatial=2)
    inputs = _inputs()
    downsampled = generator.downsample(inputs["prev_images"])
    as_list = generator({**inputs, "prev_images": [inputs["prev_images"], downsampled]})
    np.testing.assert_allclose(as_list["image"], generator(inputs)["image"], atol=1e-6)
    coarse = rng.uniform(-1, 1, downsampled.shape).astype("float32")
    other = generator({**inputs, "prev_images": [inputs["prev_images"], coarse]})
    assert not np.allclose(other["image_pyramid"][1], as_list["image_pyramid"][1])


def _force_output(generator, head, value):
    """Makes the head `model_final_w` / `model_final_flow` convolve to `value` everywhere."""
    conv = getattr(generator, head)[0].conv
    conv.kernel.assign(np.zeros(conv.kernel.shape, "float32"))
    conv.bias.assign(np.broadcast_to(np.asarray(value, "float32"), conv.bias.shape))


def test_weight_mixes_the_raw_image_and_the_warped_previous_frame():
    inputs = _inputs()
    generator = _build(CompositeGenerator(ngf=8, n_downsample_G=2, n_blocks=2),
                       inputs["label"].shape[-1])
    _force_output(generator, "model_final_w", -1e4)
    _force_output(generator, "model_final_flow", [0.06, -0.04])  # x 20: (1.2, -0.8) pixels
    outputs = generator(inputs)
    np.testing.assert_array_equal(outputs["weight"], np.zeros((2, HEIGHT, WIDTH, 1)))
    np.testing.assert_allclose(outputs["flow"][0, 0, 0], [1.2, -0.8], rtol=1e-6)
    previous = inputs["prev_images"][..., -3:]
    warped = FlowWarp()([previous, outputs["flow"]])
    np.testing.assert_allclose(outputs["image"], warped, atol=1e-6)
    # Pixel (x, y) = (4, 5) samples (5.2, 4.2) between four pixels.
    expected = (0.8 * (0.8 * previous[:, 4, 5] + 0.2 * previous[:, 4, 6])
                + 0.2 * (0.8 * previous[:, 5, 5] + 0.2 * previous[:, 5, 6]))
    np.testing.assert_allclose(outputs["image"][:, 5, 4], expected, atol=1e-5)
    _force_output(generator, "model_final_w", 1e4)
    outputs = generator(inputs)
    np.testing.assert_allclose(outputs["image"], outputs["image_raw"], atol=1e-6)


def test_foreground_replaces_the_image_on_the_current_frames_fg_labels():
    inputs = _inputs()
    generator = _build(CompositeGenerator(ngf=8, n_downsample_G=2, n_blocks=2, fg=True,
                                          fg_labels=(1, 3)), inputs["label"].shape[-1])
    _force_output(generator, "model_final_w", -1e4)
    mask = np.asarray(generator.foreground_mask(inputs["label"]))[..., 0]
    current = inputs["label"][..., -(LABEL_NC + 1):]
    np.testing.assert_array_equal(mask, np.clip(current[..., 1] + current[..., 3], 0, 1))
    assert 0 < mask.mean() < 1
    outputs = generator(inputs)
    image, image_raw = np.asarray(outputs["image"]), np.asarray(outputs["image_raw"])
    warped = np.asarray(FlowWarp()([inputs["prev_images"][..., -3:], outputs["flow"]]))
    foreground = mask == 1
    np.testing.assert_allclose(image[foreground], image_raw[foreground], atol=1e-6)
    np.testing.assert_allclose(image[~foreground], warped[~foreground], atol=1e-6)
    assert not np.allclose(image_raw[~foreground], warped[~foreground], atol=1e-2)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_training_normalizes_with_the_batch_and_updates_the_running_statistics(norm):
    generator = Vid2VidGenerator(**TINY, norm=norm)
    inputs = _inputs()
    running = np.asarray(generator(inputs)["image"])
    norm_layer = generator.levels[0].model_down_seg[0].norm_layer
    before = np.asarray(norm_layer.moving_mean)
    np.testing.assert_array_equal(norm_layer.moving_mean, before)
    trained = generator(inputs, training=True)["image"]
    assert not np.allclose(trained, running, atol=1e-3)
    assert not np.allclose(norm_layer.moving_mean, before)
    np.testing.assert_allclose(generator(inputs, training=True)["image"], trained, atol=1e-5)


def test_discriminator_scales_widen_as_they_coarsen():
    """The reference's scale `num_D - 1 - k` (the k-th downsampled input) starts with
    min(64, ndf * 2^k) channels: ndf 8 gives the test vector's 8 ... 64 and 16 ... 128."""
    discriminator = multiscale_discriminator(ndf=8, n_layers_D=3, num_D=3)
    discriminator.build((None, 32, 64, 13))
    widths = [[block.filters for block in blocks] for blocks in discriminator.scales]
    assert widths == [[8, 16, 32, 64, 1], [16, 32, 64, 128, 1], [32, 64, 128, 256, 1]]
    street = multiscale_discriminator(num_D=4)
    street.build((None, None, None, 39))
    assert [blocks[0].filters for blocks in street.scales] == [64] * 4
    maps = discriminator(rng.normal(size=(2, 32, 64, 13)).astype("float32"), training=True)
    assert [m.shape for m in maps[1]] == [(2, 9, 17, 16), (2, 5, 9, 32), (2, 3, 5, 64),
                                          (2, 4, 6, 128), (2, 5, 7, 1)]
    restored = MultiscaleDiscriminator.from_config(discriminator.get_config())
    assert restored.ndf_max == 64 and restored.norm == "batch"
    assert MultiscaleDiscriminator(ndf=8).get_config()["ndf_max"] is None


def test_instance_norm_discriminator_tracks_running_statistics():
    discriminator = multiscale_discriminator(ndf=4, num_D=1, norm="instance")
    discriminator.build((None, 16, 16, 7))
    norm_layer = discriminator.scales[0][1].norm_layer
    assert norm_layer.track_running_stats and not norm_layer.affine
    with pytest.raises(ValueError, match="instance_running"):
        MultiscaleDiscriminator(norm="spectralinstance_running")


def test_discriminator_parameters_equal_the_references():
    for num_D, expected in REFERENCE_DISCRIMINATOR_PARAMETERS.items():
        image = multiscale_discriminator(num_D=num_D)
        image.build((None, None, None, 35 + 1 + 3))
        temporal = multiscale_discriminator(num_D=num_D)
        temporal.build((None, None, None, 3 * 3 + 2 * 2))
        assert (_count(image), _count(temporal)) == (expected, REFERENCE_TEMPORAL_PARAMETERS[num_D])


def test_local_generator_parameters_equal_the_references():
    for scale in (1, 2):
        level = CompositeLocalGenerator(128 // 2**scale, n_downsample_G=3, n_blocks_local=3,
                                        scale=scale, fg=True)
        assert _count(_build(level, 108)) == REFERENCE_GENERATOR_PARAMETERS[scale]


@pytest.mark.slow
def test_street_generator_parameters_equal_the_references():
    """G0 of every street preset: 411M parameters (about 10 s to build)."""
    generator = _build(Vid2VidGenerator(**STREET_GENERATOR, n_scales_spatial=3), 108)
    assert [_count(level) for level in generator.levels] == REFERENCE_GENERATOR_PARAMETERS
    keras.utils.clear_session()

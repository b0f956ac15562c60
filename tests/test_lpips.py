"""LPIPS against the `lpips` package (version 0.1) and its properties as a distance; the mean
pairwise LPIPS diversity."""

import pathlib
import re
import sys

import keras
import numpy as np
import pytest

from keras_i2i.metrics.diversity import mean_pairwise_distance, mean_pairwise_lpips
from keras_i2i.metrics.lpips import EPS, MIN_SIZE, SCALE, SHIFT, LPIPS, convert_lpips


def _images(shape, seed):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype("float32")


def _torch_reference(net, tmp_path, monkeypatch):
    """`lpips.LPIPS(net)` with the package's shipped linear weights and a seeded random
    torchvision backbone, saved as torchvision's state dict (`features.*`, `classifier.*`)."""
    # torchvision imports torch._dynamo, which imports triton where it is installed (torch's
    # CUDA builds); triton's native library crashes a process that has loaded TensorFlow. The
    # reference runs without it.
    monkeypatch.setitem(sys.modules, "triton", None)
    lpips = pytest.importorskip("lpips", reason="the reference needs the lpips package "
                                                "(pip install 'keras-i2i[torch]')")
    import torch
    import torchvision

    torch.manual_seed(0)
    backbone = {"alex": torchvision.models.alexnet, "vgg": torchvision.models.vgg16,
                "squeeze": torchvision.models.squeezenet1_1}[net](weights=None)
    # pnet_rand=True builds an untrained torchvision backbone (no download); pretrained=True
    # loads the linear layers from the package's own weights/v0.1/<net>.pth.
    reference = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    for part in reference.net.children():  # slices holding torchvision's `features[i]` as `i`
        for index, module in part.named_children():
            module.load_state_dict(backbone.features[int(index)].state_dict())
    backbone_pth = tmp_path / f"{net}_backbone.pth"
    torch.save(backbone.state_dict(), backbone_pth)
    linear_pth = pathlib.Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"

    def distances(images_0, images_1):
        with torch.no_grad():
            nchw = [torch.from_numpy(x).permute(0, 3, 1, 2) for x in (images_0, images_1)]
            return reference(*nchw).numpy().reshape(-1)

    return linear_pth, backbone_pth, distances


def _check_parity(net, size, tmp_path, monkeypatch):
    linear_pth, backbone_pth, reference = _torch_reference(net, tmp_path, monkeypatch)
    out_path = tmp_path / f"lpips_{net}.weights.h5"
    convert_lpips(linear_pth, backbone_pth, net, out_path)
    lpips = LPIPS(net, weights=out_path)
    images_0 = _images((2, *size, 3), 0)
    images_1 = np.clip(images_0 + _images((2, *size, 3), 1) * 0.3, -1.0, 1.0)
    expected = reference(images_0, images_1)
    # Seen: relative differences of 1e-7 to 2e-7 (alex, vgg and squeeze, float32 on CPU).
    np.testing.assert_allclose(lpips(images_0, images_1), expected, rtol=1e-5)
    assert np.all(expected > 0)


def test_alexnet_lpips_matches_the_lpips_package(tmp_path, monkeypatch):
    _check_parity("alex", (64, 64), tmp_path, monkeypatch)


def test_squeezenet_lpips_matches_the_lpips_package_at_odd_sizes(tmp_path, monkeypatch):
    # 45 x 52: SqueezeNet's ceil-mode max pools meet odd and even sides.
    _check_parity("squeeze", (45, 52), tmp_path, monkeypatch)


@pytest.mark.slow
def test_vgg_lpips_matches_the_lpips_package(tmp_path, monkeypatch):
    _check_parity("vgg", (64, 64), tmp_path, monkeypatch)


def test_lpips_is_zero_on_equal_images_symmetric_and_positive():
    lpips = LPIPS("alex")
    images_0, images_1 = _images((2, 40, 48, 3), 0), _images((2, 40, 48, 3), 1)
    distances = keras.ops.convert_to_numpy(lpips(images_0, images_1))
    assert distances.shape == (2,) and distances.dtype == np.float32
    assert np.all(distances > 0)
    np.testing.assert_allclose(lpips(images_1, images_0), distances, rtol=1e-6)
    np.testing.assert_array_equal(lpips(images_0, images_0), [0.0, 0.0])


def test_lpips_is_the_weighted_squared_difference_of_unit_normalized_features():
    lpips = LPIPS("squeeze")
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.0, 1.0, layer.kernel.shape) for layer in lpips.linear_layers]
    for layer, value in zip(lpips.linear_layers, weights):
        layer.kernel.assign(value)
    images_0, images_1 = _images((2, 33, 33, 3), 0), _images((2, 33, 33, 3), 1)

    def unit_features(images):
        scaled = (images - np.float32(SHIFT)) / np.float32(SCALE)
        return [f / (np.linalg.norm(f, axis=-1, keepdims=True) + EPS)
                for f in map(keras.ops.convert_to_numpy, lpips.backbone(scaled))]

    expected = sum(
        np.mean(np.square(f0 - f1) @ w.reshape(-1), axis=(1, 2))
        for w, f0, f1 in zip(weights, unit_features(images_0), unit_features(images_1)))
    np.testing.assert_allclose(lpips(images_0, images_1), expected, rtol=1e-5)


def test_lpips_runs_in_float32_under_mixed_precision():
    images_0, images_1 = _images((1, 32, 32, 3), 0), _images((1, 32, 32, 3), 1)
    lpips = LPIPS("alex")
    expected = keras.ops.convert_to_numpy(lpips(images_0, images_1))
    keras.config.set_dtype_policy("mixed_float16")
    mixed = LPIPS("alex")
    for source, target in zip(lpips.model.weights, mixed.model.weights):
        target.assign(source)
    distances = mixed(images_0, images_1)
    assert keras.backend.standardize_dtype(distances.dtype) == "float32"
    np.testing.assert_array_equal(distances, expected)


# Keras warns about every part of the wrong network's file it skips, then raises.
@pytest.mark.filterwarnings("ignore:Skipping nested container:UserWarning")
def test_weights_file_round_trip(tmp_path):
    lpips = LPIPS("alex")
    for layer in lpips.linear_layers:
        layer.kernel.assign(np.random.default_rng(0).uniform(0, 1, layer.kernel.shape))
    path = tmp_path / "lpips_alex.weights.h5"
    lpips.model.save_weights(path)
    images_0, images_1 = _images((2, 32, 32, 3), 0), _images((2, 32, 32, 3), 1)
    np.testing.assert_array_equal(LPIPS("alex", weights=path)(images_0, images_1),
                                  lpips(images_0, images_1))
    message = re.escape(f"{path} holds no LPIPS 'squeeze' weights")
    with pytest.raises(ValueError, match=message) as error:
        LPIPS("squeeze", weights=path)
    assert "\n" not in str(error.value)


def test_mean_pairwise_lpips_is_the_mean_over_all_pairs():
    lpips = LPIPS("alex")
    images = _images((5, 32, 32, 3), 0)
    # 5 images, 10 pairs: batches of 4 split both the images and the pairs.
    diversity = mean_pairwise_lpips(images, lpips, batch_size=4)
    expected = mean_pairwise_distance(images, lambda a, b: float(lpips(a[None], b[None])[0]))
    assert diversity > 0
    assert diversity == pytest.approx(expected, rel=1e-5)
    assert mean_pairwise_lpips(np.repeat(images[:1], 3, axis=0), lpips) == 0.0


def test_bad_inputs_raise_one_line_errors(tmp_path):
    lpips = LPIPS("alex")
    image = _images((1, 32, 32, 3), 0)
    for call, message in (
        (lambda: lpips(image, image[..., :1]), r"one shape, got \(1, 32, 32, 3\) and "
                                                r"\(1, 32, 32, 1\)"),
        (lambda: lpips(image[..., :1], image[..., :1]), r"\(N, H, W, 3\), got shape "
                                                        r"\(1, 32, 32, 1\)"),
        (lambda: lpips(image[0], image[0]), r"got shape \(32, 32, 3\)"),
        (lambda: lpips(image[:, :30], image[:, :30]),
         rf"at least {MIN_SIZE['alex']} x {MIN_SIZE['alex']}, got shape \(1, 30, 32, 3\)"),
        (lambda: mean_pairwise_lpips(image, lpips), r"K >= 2.*got \(1, 32, 32, 3\)"),
        (lambda: LPIPS("resnet"), "net must be one of .*, got 'resnet'"),
    ):
        with pytest.raises(ValueError, match=message) as error:
            call()
        assert "\n" not in str(error.value)
    missing = tmp_path / "absent.weights.h5"
    message = re.escape(f"LPIPS weights file {missing} does not exist")
    with pytest.raises(FileNotFoundError, match=message):
        LPIPS("alex", weights=missing)


def test_convert_lpips_names_the_file_and_the_key(tmp_path):
    # torchvision's AlexNet features: (index, out, in, kernel) of each conv.
    convs = ((0, 64, 3, 11), (3, 192, 64, 5), (6, 384, 192, 3), (8, 256, 384, 3),
             (10, 256, 256, 3))
    backbone = {}
    for index, out, in_, kernel in convs:
        backbone[f"features.{index}.weight"] = np.zeros((out, in_, kernel, kernel), "float32")
        backbone[f"features.{index}.bias"] = np.zeros(out, "float32")
    linear = {f"lin{i}.model.1.weight": np.ones((1, channels, 1, 1), "float32")
              for i, (_, channels, _, _) in enumerate(convs)}
    out_path = tmp_path / "lpips.weights.h5"
    backbone_npz, linear_npz = tmp_path / "backbone.npz", tmp_path / "linear.npz"
    np.savez(backbone_npz, **{k: v for k, v in backbone.items() if k != "features.8.bias"})
    np.savez(linear_npz, **linear)
    message = re.escape(f"{backbone_npz}: missing features.8.bias")
    with pytest.raises(ValueError, match=message) as error:
        convert_lpips(linear_npz, backbone_npz, "alex", out_path)
    assert "\n" not in str(error.value)
    np.savez(backbone_npz, **backbone)
    np.savez(linear_npz, **{**linear, "lin2.model.1.weight": np.ones((1, 256, 1, 1))})
    message = re.escape(f"{linear_npz}: lin2.model.1.weight: found shape (1, 256, 1, 1)")
    with pytest.raises(ValueError, match=message) as error:
        convert_lpips(linear_npz, backbone_npz, "alex", out_path)
    assert "\n" not in str(error.value)
    np.savez(linear_npz, **linear)
    convert_lpips(linear_npz, backbone_npz, "alex", out_path)
    kernels = [keras.ops.convert_to_numpy(weight)
               for weight in LPIPS("alex", weights=out_path).backbone.weights]
    assert len(kernels) == 10 and not any(np.any(kernel) for kernel in kernels)

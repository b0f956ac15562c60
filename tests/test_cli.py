"""The `keras-i2i` command on ToyGAN (registered as "toy" by tests/toy_gan.py)."""

import dataclasses
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_i2i import cli, data, training, visualize
from keras_i2i.models import registry
from tests.toy_gan import ToyGAN


def run(capsys, *argv):
    """`(exit status, stdout, stderr)` of `keras-i2i argv...`."""
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write_rgb_pairs(root, count=4, size=8):
    """A pix2pixHD RGB layout: `train_A/` inputs and `train_B/` targets."""
    rng = np.random.default_rng(0)
    for folder in ("train_A", "train_B"):
        for index in range(count):
            visualize.save_png(root / folder / f"{index:03d}.png",
                               rng.integers(0, 256, (size, size, 3)).astype("uint8"))
    return root


def test_presets_lists_every_model_and_its_presets(capsys):
    status, out, _ = run(capsys, "presets", "--model", "toy")
    assert status == 0
    assert out.splitlines() == ["toy: ToyGAN: RGB -> RGB, for the tests",
                                f"  {'tiny':<24} Four channels.", f"  {'wide':<24} Eight channels."]


TRAIN = ("train", "--model", "toy", "--preset", "tiny", "--epochs", 2, "--batch-size", 2,
         "--checkpoint-every", 3, "--sample-every", 2, "--log-every", 2, "--verbose", 0)


def test_train_on_synthetic_data_writes_checkpoints_samples_logs_and_a_preset(tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, err = run(capsys, *TRAIN, "--data", "synthetic", "--synthetic-samples", 8,
                              "--out", out)
    assert status == 0, err
    assert "Trained 8 steps" in stdout
    assert training.latest_checkpoint(out / "checkpoints").name == "ckpt-000000008"
    assert (out / "samples" / "step-000000008.png").is_file()
    assert list((out / "logs").glob("events.out.tfevents.*"))
    model = ToyGAN.from_preset(out / "preset")
    assert int(model.steps_trained.numpy()) == 8

    status, stdout, err = run(capsys, *TRAIN, "--data", "synthetic", "--synthetic-samples", 8,
                              "--out", out)  # the same command again: nothing left to do
    assert status == 0, err
    assert "Resuming from" in stdout and "Trained 8 steps" in stdout


def test_train_on_a_folder_then_translate_and_export(tmp_path, capsys):
    data = write_rgb_pairs(tmp_path / "data")
    status, _, err = run(capsys, *TRAIN, "--data", data, "--out", tmp_path / "run")
    assert status == 0, err
    preset = tmp_path / "run" / "preset"

    status, out, err = run(capsys, "translate", "--model", "toy", "--preset", preset,
                           data / "train_A", "--out", tmp_path / "translated")
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "translated").iterdir()) == [
        "000.png", "001.png", "002.png", "003.png"]
    translated = np.asarray(Image.open(tmp_path / "translated" / "001.png"))
    source = np.asarray(Image.open(data / "train_A" / "001.png"), "float32") / 127.5 - 1
    expected = visualize.to_uint8(ToyGAN.from_preset(preset)(source[None])[0]).numpy()
    np.testing.assert_allclose(translated, expected, atol=1)

    status, _, err = run(capsys, "export", "--model", "toy", "--preset", preset,
                         "--out", tmp_path / "served")
    assert status == 0, err
    assert (tmp_path / "served" / "saved_model.pb").is_file()


@pytest.mark.parametrize("argv, message", [
    (("--data", "{tmp}/nowhere"), r"--data .*/nowhere: no such folder"),
    (("--data", "synthetic", "--preset", "huge"),
     r"Unknown preset 'huge' for ToyGAN\. Known presets: tiny, wide\."),
    (("--data", "{data}", "--layout", "aligned"), r".*/data/train: expected a folder of files"),
    (("--data", "synthetic", "--model", "cyclegan"), r"Unknown model 'cyclegan'\. Known models:"),
])
def test_train_mistakes_are_one_clear_line(tmp_path, capsys, argv, message):
    write_rgb_pairs(tmp_path / "data")
    argv = [str(arg).format(tmp=tmp_path, data=tmp_path / "data") for arg in argv]
    status, _, err = run(capsys, *TRAIN, "--out", tmp_path / "run", *argv)
    assert status == 1
    assert err.count("\n") == 1 and err.startswith("keras-i2i: error: ")
    assert re.search(message, err), err


def test_convert_and_translate_mistakes_are_one_clear_line(tmp_path, capsys):
    status, _, err = run(capsys, "convert", "--model", "toy", "--checkpoint", tmp_path / "x.pth",
                         "--out", tmp_path / "p")
    assert status == 1 and err == "keras-i2i: error: toy has no PyTorch checkpoint converter yet.\n"
    status, _, err = run(capsys, "translate", "--model", "toy", "--preset", "tiny",
                         tmp_path / "missing.png", "--out", tmp_path / "o")
    assert status == 1 and err.endswith("missing.png: no such file or folder.\n")


def test_convert_runs_the_models_converter(tmp_path, capsys, monkeypatch):
    calls = []
    spec = registry.get_model("toy")
    monkeypatch.setitem(registry._MODELS, "toy", dataclasses.replace(
        spec, converter=lambda checkpoint, out, preset: calls.append((checkpoint, out, preset))))
    (tmp_path / "net_G.pth").write_bytes(b"")
    status, out, err = run(capsys, "convert", "--model", "toy", "--checkpoint",
                           tmp_path / "net_G.pth", "--preset", "tiny", "--out", tmp_path / "p")
    assert status == 0, err
    assert calls == [(str(tmp_path / "net_G.pth"), str(tmp_path / "p"), "tiny")]


def test_translate_maps_label_ids_as_the_dataset_loader_does(tmp_path):
    label = tf.TensorSpec([None, None, None, 1], tf.int32, name="label")
    path = tmp_path / "labels.png"
    Image.fromarray(np.array([[0, 181], [255, 7]], np.uint8)).save(path)
    raw = cli._read(label, str(path)).numpy()[..., 0]
    np.testing.assert_array_equal(raw, [[0, 181], [255, 7]])
    mapped = cli._read(label, str(path), data.dataset_settings("coco_stuff")).numpy()[..., 0]
    np.testing.assert_array_equal(mapped, [[0, 181], [182, 7]])
    with pytest.raises(ValueError, match=r"labels\.png: label id 255 >= label_nc 35"):
        cli._read(label, str(path), data.dataset_settings("cityscapes"))


def test_jit_is_the_models_compile_default_unless_given(tmp_path, capsys, monkeypatch):
    given = []
    compile_ = ToyGAN.compile

    def compile(self, *args, **kwargs):
        given.append(kwargs.get("jit_compile", "the model's default"))
        return compile_(self, *args, **kwargs)

    monkeypatch.setattr(ToyGAN, "compile", compile)
    for flags, name in (((), "default"), (("--no-jit",), "off")):
        status, _, err = run(capsys, *TRAIN, "--epochs", 1, "--data", "synthetic",
                             "--synthetic-samples", 4, *flags, "--out", tmp_path / name)
        assert status == 0, err
    assert given == ["the model's default", False]

"""The `keras-i2i` command, run as a user runs it, on the real models at tiny widths (and on
ToyGAN, registered as "toy" by tests/toy_gan.py, for the machinery)."""

import csv
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from keras_i2i import SPADE, cli, training, visualize
from keras_i2i.data import synthetic
import tests.toy_gan  # noqa: F401  (registers the toy model)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The real models, as small as they get: 32x32 synthetic scenes, a few channels, steps run
# eagerly (a handful of steps: tracing would take most of the time; the README's commands and
# the Ctrl-C test run traced steps).
TINY = {
    "spade": ["--preset", "synthetic", "--ngf", "8", "--ndf", "8", "--spade-hidden", "8",
              "--n-layers-d", "2", "--run-eagerly"],
    "pix2pixhd": ["--preset", "synthetic_global", "--ngf", "8", "--ndf", "8", "--nef", "4",
                  "--n-blocks-global", "1", "--n-layers-d", "1", "--run-eagerly"],
    "munit": ["--preset", "synthetic", "--ngf", "8", "--ndf", "8", "--mlp-dim", "16",
              "--n-res", "1", "--run-eagerly"],
    "drit": ["--preset", "synthetic", "--width", "4", "--run-eagerly"],
    "mdmm": ["--preset", "synthetic", "--width", "2", "--run-eagerly"],
    "init": ["--preset", "synthetic", "--ngf", "4", "--ndf", "4", "--mlp-dim", "8",
             "--n-res", "1", "--dis-n-layer", "2", "--object-size", "16", "--run-eagerly"],
}


def run(capsys, *argv):
    """`(exit status, stdout, stderr)` of `keras-i2i argv...`, in this process."""
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def train_tiny(capsys, model, out, *extra, samples=8):
    status, stdout, err = run(
        capsys, "train", "--model", model, *TINY[model], "--data", "synthetic",
        "--synthetic-samples", samples, "--size", 32, "--batch-size", 4, "--epochs", 1,
        "--verbose", 0, "--out", out, *extra)
    assert status == 0, err
    return stdout


def one_line_error(err, pattern):
    assert err.count("\n") == 1 and err.startswith("keras-i2i: error: "), err
    assert re.search(pattern, err), err


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Synthetic scenes written in the pix2pixHD layout: train_* and test_* folders."""
    root = tmp_path_factory.mktemp("scenes")
    synthetic.write_paired(root, 4, phase="test", size=32)
    return root


# ------------------------------------------------------------------ SPADE end to end


@pytest.fixture(scope="module")
def spade_run(tmp_path_factory):
    """A tiny SPADE trained for one epoch, then extended to two with the same command."""
    out = tmp_path_factory.mktemp("spade") / "run"
    argv = ["train", "--model", "spade", *TINY["spade"], "--data", "synthetic",
            "--synthetic-samples", "8", "--size", "32", "--batch-size", "4", "--verbose", "0",
            "--log-every", "1", "--out", str(out)]
    assert cli.main([*argv, "--epochs", "1"]) == 0
    first = (out / "losses.csv").read_text()
    assert cli.main([*argv, "--epochs", "2", "--lr", "5e-4"]) == 0
    return out, first


def test_training_writes_options_losses_titled_samples_checkpoints_and_a_preset(spade_run):
    out, _ = spade_run
    options = (out / "opt.txt").read_text()
    assert "epochs: 2" in options and "ngf: 8" in options and "learning_rate: 0.0005" in options
    record = json.loads((out / "options.json").read_text())
    assert record["dataset"] == "synthetic" and record["model"]["config"]["ndf"] == 8
    with (out / "losses.csv").open() as rows:
        rows = list(csv.DictReader(rows))
    assert [int(row["step"]) for row in rows] == [1, 2, 3, 4]
    assert {"g_gan", "g_feat", "d_real", "d_fake", "lr_generator"} <= set(rows[0])
    assert all(np.isfinite(float(row["d_real"])) for row in rows)
    assert Image.open(out / "losses.png").size[0] > 300
    grid = np.asarray(Image.open(out / "samples" / "step-000000000.png"))  # before training
    assert grid.shape == (18 + 4 * 96, 3 * 96, 3)  # titles over 4 rows of 3 enlarged cells
    assert (grid[:18] < 128).any() and (grid[:18] == 255).mean() > 0.5  # dark text on white
    assert [p.name for p in training.list_checkpoints(out / "checkpoints")] == [
        "ckpt-000000002", "ckpt-000000004"]
    assert json.loads((out / "preset" / "metadata.json").read_text())["steps_trained"] == 4


def test_a_longer_run_resumes_with_a_new_schedule_and_learning_rate(spade_run, capsys):
    out, first_losses = spade_run
    assert (out / "losses.csv").read_text().startswith(first_losses)  # the rows were kept
    # The first run had a constant learning rate (1 epoch: nothing to decay), the second a
    # linear decay over its last epoch, from the new --lr: 5e-4 / 2 for the generator (TTUR).
    with (out / "losses.csv").open() as rows:
        rates = [float(row["lr_generator"]) for row in csv.DictReader(rows)]
    assert rates == pytest.approx([5e-4, 5e-4, 2.5e-4, 2.5e-4])
    argv = ["train", "--model", "spade", *TINY["spade"], "--data", "synthetic",
            "--synthetic-samples", "8", "--size", "32", "--batch-size", "4", "--verbose", "0",
            "--epochs", "2", "--out", out]
    status, stdout, err = run(capsys, *argv)
    assert status == 0, err
    assert "Options differ from the earlier run" in stdout
    assert "learning_rate 0.0005 -> 0.001" in stdout  # back to the preset's rate


def test_translate_test_and_export_from_a_run_and_its_checkpoints(spade_run, scenes, capsys,
                                                                    tmp_path):
    out, _ = spade_run
    status, stdout, err = run(capsys, "translate", "--model", "spade", "--preset", out,
                              scenes / "test_label", "--with", f"instance={scenes / 'test_inst'}",
                              "--out", tmp_path / "translated")
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "translated").iterdir()) == [
        "00000.png", "00001.png", "00002.png", "00003.png"]
    image = np.asarray(Image.open(tmp_path / "translated" / "00001.png"))
    assert image.shape == (32, 32, 3) and image.std() > 0

    status, stdout, err = run(capsys, "test", "--model", "spade", "--preset", out,
                              "--checkpoint", "epoch-1", "--data", scenes, "--how-many", 3,
                              "--out", tmp_path / "results")
    assert status == 0, err
    page = (tmp_path / "results" / "index.html").read_text()
    assert page.count("<tr>") == 4 and "<th>input</th><th>output</th><th>target</th>" in page
    assert (tmp_path / "results" / "images" / "00002_output.png").is_file()

    status, stdout, err = run(capsys, "export", "--model", "spade", "--preset", out,
                              "--checkpoint", "latest", "--out", tmp_path / "served")
    assert status == 0, err
    assert "Captures" not in stdout and (tmp_path / "served" / "saved_model.pb").is_file()
    status, _, err = run(capsys, "export", "--model", "spade", "--preset", out,
                         "--checkpoint", "7", "--out", tmp_path / "nothing")
    one_line_error(err, r"\b7\b.*\b2\b.*\b4\b")


def test_spade_example_guided_styles_and_wrong_options(scenes, capsys, tmp_path):
    train_tiny(capsys, "spade", tmp_path / "vae", "--use-vae", "--z-dim", "4",
               "--samples-shown", "2")
    status, _, err = run(capsys, "translate", "--model", "spade", "--preset", tmp_path / "vae",
                         scenes / "test_label" / "00000.png", "--with",
                         f"instance={scenes / 'test_inst'}", "--style-image",
                         scenes / "test_img", "--num-styles", 2, "--seed", 3,
                         "--out", tmp_path / "styled")
    assert status == 0, err
    # The files are the Python API's images for the same example, seed and labels.
    model = SPADE.from_preset(tmp_path / "vae" / "preset")
    labels = np.asarray(Image.open(scenes / "test_label" / "00000.png"))[None, ..., None]
    instances = np.asarray(Image.open(scenes / "test_inst" / "00000.png"))[None, ..., None]
    style = np.asarray(Image.open(scenes / "test_img" / "00000.png"), "float32") / 127.5 - 1
    expected = model.translate(labels.astype("int32"), instances.astype("int32"),
                               style_images=style[None], num_styles=2, seed=3)
    for k in (0, 1):
        written = np.asarray(Image.open(tmp_path / "styled" / f"00000_style{k}.png"))
        np.testing.assert_allclose(written, visualize.to_uint8(expected[0, k]), atol=1)
    status, _, err = run(capsys, "translate", "--model", "spade", "--preset", tmp_path / "vae",
                         scenes / "test_label", "--direction", "b2a", "--out", tmp_path / "x")
    one_line_error(err, r"--direction: SPADE\.translate takes no direction")


# ------------------------------------------------------------------ pix2pixHD, MUNIT


def test_pix2pixhd_coarse_to_fine_training_clusters_and_instance_styles(scenes, capsys,
                                                                        tmp_path):
    stdout = train_tiny(capsys, "pix2pixhd", tmp_path / "coarse")
    assert "Clustered the instance features" in stdout
    fine = ["--preset", "synthetic", "--ngf", "4", "--ndf", "8", "--nef", "4",
            "--n-blocks-global", "1", "--n-layers-d", "1", "--niter-fix-global", "0",
            "--run-eagerly"]
    status, stdout, err = run(
        capsys, "train", "--model", "pix2pixhd", *fine, "--coarse-model", tmp_path / "coarse",
        "--data", "synthetic", "--synthetic-samples", 8, "--size", 64, "--batch-size", 4,
        "--epochs", 1, "--verbose", 0, "--out", tmp_path / "fine")
    assert status == 0, err
    assert "Started from the coarse model" in stdout
    translated = {}
    for name, extra in (("seed0", ["--seed", 0]), ("seed1", ["--seed", 1]),
                        ("encoded", ["--style-image", scenes / "test_img"])):
        status, _, err = run(capsys, "translate", "--model", "pix2pixhd", "--preset",
                             tmp_path / "coarse", scenes / "test_label", "--with",
                             f"instance={scenes / 'test_inst'}", *extra,
                             "--out", tmp_path / name)
        assert status == 0, err
        translated[name] = np.asarray(Image.open(tmp_path / name / "00000.png"), "float32")
    assert translated["seed0"].shape == (32, 32, 3)
    assert not np.array_equal(translated["encoded"], translated["seed0"])


def test_munit_directions_styles_and_seeds(capsys, tmp_path):
    train_tiny(capsys, "munit", tmp_path / "run")
    domains = tmp_path / "domains"
    synthetic.write_unpaired(domains, 2, phase="test", size=32)
    outputs = {}
    for name, extra in (("a", ["--num-styles", 2, "--seed", 5]),
                        ("again", ["--num-styles", 2, "--seed", 5]),
                        ("b2a", ["--direction", "b2a", "--seed", 5]),
                        ("guided", ["--style-image", domains / "testB" / "00001.png"])):
        source = domains / ("testB" if name == "b2a" else "testA")
        status, _, err = run(capsys, "translate", "--model", "munit", "--preset",
                             tmp_path / "run", source, *extra, "--out", tmp_path / name)
        assert status == 0, err
        outputs[name] = sorted(p.name for p in (tmp_path / name).iterdir())
    assert outputs["a"] == ["00000_style0.png", "00000_style1.png", "00001_style0.png",
                            "00001_style1.png"]
    for file in outputs["a"]:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "again" / file).read_bytes()
    assert outputs["guided"] == outputs["b2a"] == ["00000.png", "00001.png"]


def test_drit_and_mdmm_train_at_their_reference_batch_and_translate_with_attributes(
        capsys, tmp_path):
    """DRIT's step takes the reference's d_iter iterations of 2 images (6 by default)."""
    for model in ("drit", "mdmm"):
        status, stdout, err = run(
            capsys, "train", "--model", model, *TINY[model], "--data", "synthetic",
            "--synthetic-samples", 6, "--size", 64, "--epochs", 1, "--verbose", 0,
            "--out", tmp_path / model)
        assert status == 0, err
        assert "Trained 1 steps" in stdout
        options = json.loads((tmp_path / model / "options.json").read_text())["options"]
        assert options["batch_size"] == 6
    domains = tmp_path / "domains"
    synthetic.write_unpaired(domains, 2, phase="test", size=64)
    for model, name, extra in (
            ("drit", "random", ["--num-attributes", 2, "--seed", 5]),
            ("drit", "guided", ["--target-domain", "a", "--attribute-image",
                                domains / "testA" / "00001.png"]),
            ("mdmm", "to2", ["--target-domain", 2, "--num-attributes", 2, "--seed", 1])):
        source = domains / ("testB" if name == "guided" else "testA")
        status, _, err = run(capsys, "translate", "--model", model, "--preset",
                             tmp_path / model / "preset", source, *extra, "--out", tmp_path / name)
        assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "random").iterdir()) == [
        "00000_style0.png", "00000_style1.png", "00001_style0.png", "00001_style1.png"]
    assert sorted(p.name for p in (tmp_path / "guided").iterdir()) == ["00000.png", "00001.png"]
    assert len(list((tmp_path / "to2").iterdir())) == 4
    status, _, err = run(capsys, "translate", "--model", "drit", "--preset",
                         tmp_path / "drit" / "preset", domains / "testA", "--direction", "a2b",
                         "--out", tmp_path / "bad")
    one_line_error(err, r"--direction: DRIT.translate takes no direction \(it takes "
                        r"target_domain, num_attributes")


def test_init_trains_on_box_folders_and_translates_with_an_annotation_file(capsys, tmp_path):
    root = tmp_path / "boxes"
    status, _, err = run(capsys, "synthetic", "--kind", "unpaired_boxes", "--out", root,
                         "--samples", 4, "--size", 32)
    assert status == 0, err
    status, stdout, err = run(capsys, "train", "--model", "init", *TINY["init"], "--data", root,
                              "--load-size", 32, "--crop-size", 32, "--batch-size", 2,
                              "--epochs", 1, "--verbose", 0, "--out", tmp_path / "run")
    assert status == 0, err
    assert "Trained 2 steps" in stdout
    preset = tmp_path / "run" / "preset"
    status, _, err = run(capsys, "translate", "--model", "init", "--preset", preset,
                         root / "testA", "--boxes", root / "testA" / "boxes.json",
                         "--num-styles", 2, "--seed", 3, "--out", tmp_path / "out")
    assert status == 0, err
    assert len(list((tmp_path / "out").iterdir())) == 8
    listing = json.loads((root / "testA" / "boxes.json").read_text())
    listing["00001.png"] = [[0, 10, 10, 5, 20]]
    (tmp_path / "bad.json").write_text(json.dumps(
        {f"boxes/testA/{name}": rows for name, rows in listing.items()}))
    status, _, err = run(capsys, "translate", "--model", "init", "--preset", preset,
                         root / "testA", "--boxes", tmp_path / "bad.json", "--out",
                         tmp_path / "bad")
    one_line_error(err, r"bad.json: box \[0, 10, 10, 5, 20\] of boxes/testA/00001.png: expected")
    status, _, err = run(capsys, "translate", "--model", "init", "--preset", preset,
                         root / "testB", "--boxes", root / "testA" / "boxes.json", "--out",
                         tmp_path / "bad")
    one_line_error(err, r"testB/00000.png: no entry in the --boxes file")


def test_vid2vid_trains_on_video_folders_and_generates_videos(capsys, tmp_path):
    """Folders of frame sequences with their DIS flow in; label videos -> frames and an mp4,
    the first frames from a single-image model."""
    from keras_i2i import Pix2PixHD

    root = tmp_path / "videos"
    status, _, err = run(capsys, "synthetic", "--kind", "videos", "--out", root, "--samples",
                         2, "--frames", 5, "--size", 32)
    assert status == 0, err
    status, stdout, err = run(
        capsys, "train", "--model", "vid2vid", "--preset", "synthetic", "--ngf", 4, "--ndf", 4,
        "--n-blocks", 1, "--n-layers-d", 1, "--num-d", 1, "--run-eagerly", "--data", root,
        "--load-size", 32, "--crop-size", 32, "--epochs", 1, "--verbose", 0,
        "--out", tmp_path / "run")
    assert status == 0, err
    assert "Trained 2 steps" in stdout  # one clip (2 first frames + 3) per sequence
    single = Pix2PixHD(label_nc=synthetic.NUM_CLASSES, ngf=4, n_downsample_global=1,
                       n_blocks_global=1, ndf=4, n_layers_D=1, num_D=1, lambda_vgg=0.0)
    single.save_to_preset(tmp_path / "single")
    status, _, err = run(capsys, "translate", "--model", "vid2vid", "--preset",
                         tmp_path / "run", root / "test_A", "--with",
                         f"instance={root / 'test_inst'}", "--first-frame-model",
                         f"pix2pixhd={tmp_path / 'single'}", "--out", tmp_path / "out")
    assert status == 0, err
    frames = sorted((tmp_path / "out" / "seq001").iterdir())
    assert [f.name for f in frames] == [f"{t:05d}.png" for t in range(5)]
    labels = np.stack([np.asarray(Image.open(root / "test_A" / "seq001" / f.name))
                       for f in frames[:2]])[..., None].astype("int32")
    instances = np.stack([np.asarray(Image.open(root / "test_inst" / "seq001" / f.name))
                          for f in frames[:2]])[..., None].astype("int32")
    expected = visualize.to_uint8(single.translate(labels, instances)).numpy()
    first = np.stack([np.asarray(Image.open(f)) for f in frames[:2]])
    assert np.abs(first.astype(int) - expected).max() <= 1
    pytest.importorskip("av", reason="the mp4 needs PyAV (the video extra)")
    assert (tmp_path / "out" / "seq001.mp4").stat().st_size > 0


def test_vid2vid_translate_mistakes_name_the_frame(capsys, tmp_path):
    from keras_i2i import Vid2Vid

    Vid2Vid(label_nc=synthetic.NUM_CLASSES, ngf=4, n_downsample_G=1, n_blocks=1, ndf=4,
            n_layers_D=1, num_D=1).save_to_preset(tmp_path / "preset")
    sequence = tmp_path / "labels"
    sequence.mkdir()
    for t in range(4):
        Image.fromarray(np.full((32, 32), t, np.uint8)).save(sequence / f"{t:05d}.png")
    starts = tmp_path / "starts"
    starts.mkdir()
    for t in range(2):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(starts / f"{t:05d}.png")
    translate = ("translate", "--model", "vid2vid", "--preset", tmp_path / "preset", sequence,
                 "--out", tmp_path / "out")
    _, _, err = run(capsys, *translate)
    one_line_error(err, r"--first-frames or --first-frame-model \(one of them\)")
    Image.fromarray(np.zeros((36, 32), np.uint8)).save(sequence / "00002.png")
    _, _, err = run(capsys, *translate, "--first-frames", starts)
    one_line_error(err, r"labels/00002.png: label_video frame 2 is 36x32, expected 32x32")
    Image.fromarray(np.full((32, 32), 7, np.uint8)).save(sequence / "00002.png")
    _, _, err = run(capsys, *translate, "--first-frames", starts)
    one_line_error(err, r"labels/00002.png: label_video frame 2: labels must be ids in 0\.\.4")
    (sequence / "00003.png").write_bytes(b"not an image")
    Image.fromarray(np.full((32, 32), 1, np.uint8)).save(sequence / "00002.png")
    _, _, err = run(capsys, *translate, "--first-frames", starts)
    one_line_error(err, r"labels/00003.png: cannot be read as an image")
    assert sorted(p.name for p in (tmp_path / "out" / "labels").iterdir())[:2] == [
        "00000.png", "00001.png"]  # written before the bad frame, kept


# ------------------------------------------------------------------ mistakes and failures


@pytest.mark.parametrize("argv, message", [
    (("--data", "{tmp}/nowhere"), r"--data .*/nowhere: no such folder"),
    (("--data", "synthetic", "--preset", "huge"),
     r"Unknown preset 'huge' for ToyGAN\. Known presets: tiny, wide\."),
    (("--data", "{data}", "--layout", "pix2pixhd"), r"/data/train_A: expected a folder"),
    (("--data", "synthetic", "--model", "cyclegan"), r"Unknown model 'cyclegan'\. Known models:"),
])
def test_train_mistakes_are_one_clear_line(tmp_path, capsys, argv, message):
    (tmp_path / "data").mkdir()
    argv = [str(arg).format(tmp=tmp_path, data=tmp_path / "data") for arg in argv]
    status, _, err = run(capsys, "train", "--model", "toy", "--preset", "tiny", "--epochs", 1,
                         "--verbose", 0, "--out", tmp_path / "run", *argv)
    assert status == 1
    one_line_error(err, message)


def test_folder_mistakes_name_the_folder_and_the_flag(scenes, capsys, tmp_path):
    status, _, err = run(capsys, "train", "--model", "spade", *TINY["spade"], "--data", scenes,
                         "--phase", "val", "--out", tmp_path / "run")
    one_line_error(err, rf"{scenes}: no known label layout .*val_label")
    empty = tmp_path / "empty"
    for folder in ("train_label", "train_img", "train_inst"):
        (empty / folder).mkdir(parents=True)
    status, _, err = run(capsys, "train", "--model", "spade", *TINY["spade"], "--data", empty,
                         "--out", tmp_path / "run")
    one_line_error(err, rf"no samples found in {empty}/train_label")
    status, _, err = run(capsys, "train", "--model", "spade", *TINY["spade"], "--data", scenes,
                         "--layout", "ade20k", "--out", tmp_path / "run")
    one_line_error(err, r"the ade20k layout has no instance maps.*--no-instance")


def test_bad_files_stop_the_run_or_are_skipped_and_counted(capsys, tmp_path):
    root = tmp_path / "data"
    synthetic.write_paired(root, 8, phase="train", size=32)
    bad = root / "train_label" / "00003.png"
    Image.fromarray(np.full((32, 32), 9, np.uint8)).save(bad)  # label id 9 >= label_nc 5
    argv = ["train", "--model", "spade", *TINY["spade"], "--data", root, "--batch-size", 2,
            "--epochs", 1, "--verbose", 0, "--crop-size", 32, "--load-size", 32]
    status, _, err = run(capsys, *argv, "--out", tmp_path / "raise")
    one_line_error(err, rf"{bad}: label id 9 >= label_nc 5")
    status, stdout, err = run(capsys, *argv, "--on-error", "skip", "--serial-batches",
                              "--no-flip", "--out", tmp_path / "skip")
    assert status == 0, err
    assert "1 bad samples left out" in stdout
    options = json.loads((tmp_path / "skip" / "options.json").read_text())["options"]
    assert options["serial_batches"] and not options["flip"]


def test_a_custom_label_count_and_instance_maps_off_reach_the_model(scenes, capsys, tmp_path):
    """The cityscapes preset (35 labels, instance edges) on a folder of 5-label scenes: the
    model follows the data options."""
    status, stdout, err = run(
        capsys, "train", "--model", "spade", *TINY["spade"][2:], "--preset", "cityscapes",
        "--no-vgg-loss", "--num-upsampling-layers", "normal", "--data", scenes, "--phase",
        "test", "--label-nc", 5, "--no-instance", "--preprocess", "fixed", "--crop-size", 32,
        "--aspect-ratio", 1, "--batch-size", 2, "--epochs", 1, "--verbose", 0,
        "--out", tmp_path / "run")
    assert status == 0, err
    config = json.loads((tmp_path / "run" / "options.json").read_text())["model"]["config"]
    assert (config["label_nc"], config["use_instance"], config["image_size"]) == (5, False,
                                                                                   [32, 32])


def test_checkpoints_every_few_epochs_all_kept(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--model", "toy", "--preset", "tiny", "--data",
                         "synthetic", "--synthetic-samples", 4, "--batch-size", 2, "--epochs", 4,
                         "--save-every-epochs", 2, "--keep-checkpoints", 0, "--verbose", 0,
                         "--out", tmp_path / "run")
    assert status == 0, err
    assert [p.name for p in training.list_checkpoints(tmp_path / "run" / "checkpoints")] == [
        "ckpt-000000004", "ckpt-000000008"]


def test_the_vgg_loss_offline_is_one_line_saying_what_to_do(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5: None -- "
                        "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)
    status, _, err = run(capsys, "train", "--model", "spade", *TINY["spade"], "--lambda-vgg", 10,
                         "--data", "synthetic", "--size", 32, "--out", tmp_path / "run")
    one_line_error(err, r"vgg19.*--lambda-vgg 0")


def test_a_diverging_run_stops_and_resumes_from_good_weights_with_a_lower_rate(capsys,
                                                                               tmp_path):
    argv = ["train", "--model", "pix2pixhd", *TINY["pix2pixhd"], "--data",
            "synthetic", "--synthetic-samples", 8, "--size", 32, "--batch-size", 2,
            "--verbose", 0, "--checkpoint-every", 1, "--out", tmp_path / "run"]
    assert run(capsys, *argv, "--epochs", 1)[0] == 0  # 4 good steps
    status, _, err = run(capsys, *argv, "--epochs", 2, "--lr", "1e30")
    one_line_error(err, r"Step [5-8]: \w+ is (nan|inf).*--lr")
    newest = training.latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert int(newest.name[5:]) >= 4
    weights = model_arrays(newest)
    assert weights and all(np.isfinite(a).all() and np.abs(a).max() < 1e3 for a in weights)
    status, _, err = run(capsys, *argv, "--epochs", 2, "--lr", "1e-4")
    assert status == 0, err


def model_arrays(checkpoint):
    """The model's (not the optimizers') arrays in a checkpoint's weights file."""
    import h5py

    arrays = []
    with h5py.File(checkpoint / "model.weights.h5", "r") as f:
        f.visititems(lambda name, item: arrays.append(item[()])
                     if isinstance(item, h5py.Dataset) and not name.startswith("optimizers")
                     else None)
    return arrays


def test_a_truncated_newest_checkpoint_falls_back_to_the_one_before(capsys, tmp_path):
    argv = ["train", "--model", "toy", "--preset", "tiny", "--data", "synthetic",
            "--synthetic-samples", 8, "--batch-size", 2, "--epochs", 2, "--verbose", 0,
            "--checkpoint-every", 1, "--out", tmp_path / "run"]
    assert run(capsys, *argv)[0] == 0
    newest = training.latest_checkpoint(tmp_path / "run" / "checkpoints")
    weights = newest / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])
    status, stdout, err = run(capsys, *argv, "--epochs", 3)
    assert status == 0, err
    assert re.search(rf"{newest.name} is unreadable.*resuming from ckpt-000000007", stdout)


# ------------------------------------------------------------------ as a process


def command(*argv, **kwargs):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from keras_i2i.cli import run; sys.argv[0] = "
                               "'keras-i2i'; run()", *map(str, argv)],
        env={**env, "PYTHONPATH": ROOT}, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, **kwargs)


def test_help_answers_at_once_without_tensorflow():
    started = time.monotonic()
    process = command("train", "--help")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "--keep-checkpoints" in out and not err
    assert time.monotonic() - started < 1.5  # a Python start and argparse, no TensorFlow


def test_ctrl_c_writes_a_checkpoint_and_ends_with_one_quiet_line(tmp_path):
    """A real SPADE run in a process of its own: no TensorFlow log lines, no warnings; SIGINT
    finishes the step, writes a checkpoint and exits 130 with one line; the same command
    continues from that step."""
    out = tmp_path / "run"
    argv = ["train", "--model", "spade", *TINY["spade"][:-1], "--data", "synthetic",
            "--synthetic-samples", 400, "--size", 32, "--batch-size", 4, "--epochs", 1,
            "--verbose", 0, "--checkpoint-every", 1000, "--out", out]
    process = command(*argv)
    deadline = time.monotonic() + 600  # minutes when the machine is busy (parallel test workers)
    while not (out / "samples" / "step-000000000.png").is_file():  # training has begun
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(2)  # SIGINT, as Ctrl-C
    _, err = process.communicate(timeout=600)
    assert process.returncode == 130, err
    assert re.fullmatch(r"keras-i2i: Interrupted at step (\d+) \(SIGINT\).*\n", err), err
    step = int(re.search(r"step (\d+)", err).group(1))
    assert training.latest_checkpoint(out / "checkpoints").name == f"ckpt-{step:09d}"

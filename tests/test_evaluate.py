"""`keras-i2i evaluate` on the synthetic scenes with tiny untrained models. The Inception
network has random weights (`--inception-weights random`) and LPIPS too (`--lpips-weights
random`): nothing downloads, and the FID/KID/LPIPS values mean nothing; label fidelity uses
the synthetic scenes' exact oracle, so its value on the real images is checked, and the
synthetic videos' exact flow makes the real frames' warping error near 0."""

import json
import math
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from keras_i2i import INIT, MDMM, MUNIT, SPADE, Vid2Vid, cli
from keras_i2i.data import synthetic
from keras_i2i.data.io import read_image
from tests.test_cli import one_line_error, run

EVALUATE = ["evaluate", "--inception-weights", "random", "--size", 32, "--batch-size", 8]


@pytest.fixture(scope="module")
def spade_preset(tmp_path_factory):
    """An untrained tiny SPADE of the synthetic scenes, as a preset folder."""
    folder = tmp_path_factory.mktemp("spade") / "preset"
    SPADE.from_preset("synthetic", ngf=8, ndf=8, spade_hidden=8).save_to_preset(folder)
    return folder


@pytest.fixture(scope="module")
def spade_scores(spade_preset, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    stats = tmp_path_factory.mktemp("statistics") / "real_stats.npz"  # none cached yet
    argv = [*EVALUATE, "--model", "spade", "--preset", spade_preset, "--data", "synthetic",
            "--how-many", 8, "--kid-subset-size", 4, "--reference-stats", stats, "--out", out]
    assert cli.main([str(arg) for arg in argv]) == 0
    return out, json.loads((out / "metrics.json").read_text()), stats


def test_metrics_json_has_every_figure_with_its_settings(spade_scores):
    _, record, stats = spade_scores
    figures = record["figures"]
    assert set(figures) == {"fid", "kid", "label_fidelity_generated", "label_fidelity_real"}
    assert figures["fid"]["title"].endswith("not comparable to papers)")
    assert figures["fid"]["inception"]["weights"].startswith("random")
    assert figures["fid"]["generated_images"] == 8
    assert figures["kid"]["subset_size"] == 4
    assert all(math.isfinite(figures[key]["value"]) for key in ("fid", "kid"))
    assert stats.is_file()  # the real statistics, cached for the next run


def test_label_fidelity_of_the_oracle_on_real_scenes_is_exact(spade_scores):
    figures = spade_scores[1]["figures"]
    real, generated = figures["label_fidelity_real"], figures["label_fidelity_generated"]
    assert real["pixel_accuracy"] == 1.0 and real["mean_iou"] == 1.0
    assert 0.0 <= generated["mean_iou"] < 1.0  # an untrained model


def test_index_html_shows_the_figures_and_the_sample_pngs(spade_scores):
    out = spade_scores[0]
    page = (out / "index.html").read_text()
    assert "Label fidelity (real images)" in page and "KID" in page
    pngs = sorted(path.relative_to(out).as_posix() for path in (out / "samples").glob("*.png"))
    assert len(pngs) == 8 * 3  # input | output | real
    assert all(f'src="{png}"' in page for png in pngs)
    assert not list(out.glob(".evaluate-*"))  # the staging folder is gone


def test_too_few_images_for_the_kid_subset_is_one_line(spade_preset, tmp_path, capsys):
    status, _, err = run(capsys, *EVALUATE, "--model", "spade", "--preset", spade_preset,
                         "--data", "synthetic", "--how-many", 8, "--kid-subset-size", 50,
                         "--out", tmp_path)
    assert status == 1
    one_line_error(err, r"--kid-subset-size 50: KID needs at least 50 images, --how-many "
                        r"gives 8")


def test_a_folder_of_images_of_different_sizes_is_one_line(spade_preset, tmp_path, capsys):
    synthetic.write_paired(tmp_path / "data", 3, phase="test", size=32)
    odd = sorted((tmp_path / "data" / "test_img").iterdir())[1]
    Image.new("RGB", (48, 32)).save(odd)
    status, _, err = run(capsys, *EVALUATE, "--model", "spade", "--preset", spade_preset,
                         "--data", tmp_path / "data", "--preprocess", "none",
                         "--out", tmp_path / "out")
    assert status == 1
    one_line_error(err, rf"{odd.name}: 48x32 pixels, expected 32x32")
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_missing_segmenter_and_another_models_preset_are_one_line(spade_preset, tmp_path,
                                                                    capsys):
    status, _, err = run(capsys, *EVALUATE, "--model", "spade", "--preset", spade_preset,
                         "--data", "synthetic", "--segmenter", tmp_path / "none",
                         "--out", tmp_path)
    assert status == 1
    one_line_error(err, r"--segmenter .*none: no such SavedModel folder")
    status, _, err = run(capsys, *EVALUATE, "--model", "munit", "--preset", spade_preset,
                         "--data", "synthetic", "--out", tmp_path)
    assert status == 1
    one_line_error(err, r"SPADE|spade")


@pytest.mark.slow
def test_munit_gets_diversity_and_a_cached_reference_is_reused(tmp_path, capsys):
    preset = tmp_path / "munit"
    MUNIT.from_preset("synthetic", dim=8, dis_dim=8, mlp_dim=16, n_res=1).save_to_preset(preset)
    argv = [*EVALUATE, "--model", "munit", "--preset", preset, "--data", "synthetic",
            "--how-many", 4, "--samples-per-input", 3, "--lpips-weights", "random",
            "--reference-stats", tmp_path / "stats.npz"]
    for out in ("first", "second"):
        keras.utils.set_random_seed(0)  # the same random Inception in both runs
        status, stdout, err = run(capsys, *argv, "--out", tmp_path / out)
        assert status == 0, err
    first, second = (json.loads((tmp_path / out / "metrics.json").read_text())["figures"]
                     for out in ("first", "second"))
    assert first["diversity_l1"]["samples_per_input"] == 3
    assert first["diversity_l1"]["value"] > 0 and np.isfinite(first["diversity_lpips"]["value"])
    assert "label_fidelity_real" not in first  # MUNIT takes no label maps
    assert second["fid"]["real_statistics"].startswith("cached in")
    assert second["fid"]["value"] == pytest.approx(first["fid"]["value"])
    assert "skipped" in second["kid"]


def _figures(out):
    return json.loads((out / "metrics.json").read_text())["figures"]


def _sample_pngs(out):
    return sorted(path.name for path in (out / "samples").glob("*.png"))


def test_mdmm_is_scored_per_target_domain_each_image_once(tmp_path, capsys):
    """Two domain folders of 5 and 3 images: every image is translated into the other domain,
    FID/KID per target domain against that domain's real images; each image counts once."""
    data = synthetic.write_unpaired(tmp_path / "data", 3, phase="test", size=32)
    synthetic.write_unpaired(data, 5, phase="test", size=32, domains=("day",))  # testA: 5
    MDMM.from_preset("synthetic", num_domains=2, width=2, content_dis_kernel_size=3,
                     content_dis_layers=2).save_to_preset(tmp_path / "preset")
    argv = [*EVALUATE, "--model", "mdmm", "--preset", tmp_path / "preset", "--data", data,
            "--preprocess", "none", "--samples-per-input", 3, "--kid-subset-size", 3]
    status, _, err = run(capsys, *argv, "--out", tmp_path / "out")
    assert status == 0, err
    figures = _figures(tmp_path / "out")
    assert set(figures) == {"fid_domain_0", "kid_domain_0", "fid_domain_1", "kid_domain_1",
                            "fid_mean", "kid_mean", "diversity_l1"}
    for d, name, generated, real in ((0, "A", 3, 5), (1, "B", 5, 3)):
        fid = figures[f"fid_domain_{d}"]
        assert f"into domain {d} ({name})" in fid["title"]
        assert fid["generated_images"] == generated
        assert fid["real_statistics"] == f"{real} real images"
        assert math.isfinite(figures[f"kid_domain_{d}"]["value"])
    assert figures["fid_mean"]["value"] == pytest.approx(
        (figures["fid_domain_0"]["value"] + figures["fid_domain_1"]["value"]) / 2)
    assert figures["diversity_l1"]["inputs"] == 8 and figures["diversity_l1"]["value"] > 0
    # the grid: each input, and in each domain (its own: itself)
    assert _sample_pngs(tmp_path / "out")[:3] == ["00000_input.png", "00000_into0A.png",
                                                  "00000_into1B.png"]
    assert len(_sample_pngs(tmp_path / "out")) == 8 * 3
    shutil.copytree(data / "testA", data / "testC")
    status, _, err = run(capsys, *argv, "--out", tmp_path / "bad")
    assert status == 1
    one_line_error(err, r"3 domains in the test split \(A, B, C\), expected the model's "
                        r"num_domains = 2")


def test_init_translates_with_the_splits_boxes(tmp_path, capsys):
    """INIT on box folders: FID/KID of the a2b translations against the b images; the grid's
    outputs are the translations of the a images with their annotation file's boxes."""
    data = synthetic.write_unpaired_boxes(tmp_path / "data", 4, phase="test", size=32)
    INIT.from_preset("synthetic", dim=4, dis_dim=4, mlp_dim=8, n_res=1, dis_n_layer=2,
                     object_size=16).save_to_preset(tmp_path / "preset")
    status, _, err = run(capsys, *EVALUATE, "--model", "init", "--preset", tmp_path / "preset",
                         "--data", data, "--preprocess", "none", "--samples-per-input", 2,
                         "--kid-subset-size", 4, "--out", tmp_path / "out")
    assert status == 0, err
    figures = _figures(tmp_path / "out")
    assert set(figures) == {"fid", "kid", "diversity_l1"}
    assert figures["fid"]["generated_images"] == 4 and math.isfinite(figures["kid"]["value"])
    assert figures["diversity_l1"]["inputs"] == 4 and figures["diversity_l1"]["value"] > 0
    model = INIT.from_preset(tmp_path / "preset")
    listing = json.loads((data / "testA" / "boxes.json").read_text())
    names = sorted(listing)
    images = np.stack([read_image(str(data / "testA" / name)).numpy() for name in names])
    boxed = model.translate(images, [listing[name] for name in names], "a2b", num_styles=2,
                            seed=0)[0, 1]  # the first batch's seed: --seed 0
    unboxed = model.translate(images, None, "a2b", num_styles=2, seed=0)[0, 1]
    shown = read_image(str(tmp_path / "out" / "samples" / "00000_output1.png")).numpy()
    assert np.abs(shown - boxed).max() <= 1.5 / 127.5  # 8-bit rounding
    assert np.abs(shown - unboxed).max() > 0.05  # the boxes matter


VID2VID = {"ngf": 4, "ndf": 4, "n_downsample_G": 1, "n_blocks": 1}


@pytest.fixture(scope="module")
def vid2vid_preset(tmp_path_factory):
    """An untrained tiny vid2vid of the synthetic videos (n_frames_G 3), as a preset folder."""
    folder = tmp_path_factory.mktemp("vid2vid") / "preset"
    Vid2Vid.from_preset("synthetic", **VID2VID).save_to_preset(folder)
    return folder


def test_vid2vid_scores_frames_and_the_warping_error_with_the_exact_flow(vid2vid_preset,
                                                                         tmp_path, capsys):
    status, _, err = run(capsys, *EVALUATE, "--model", "vid2vid", "--preset", vid2vid_preset,
                         "--data", "synthetic", "--how-many", 4, "--frames", 5,
                         "--kid-subset-size", 4, "--out", tmp_path)
    assert status == 0, err
    figures = _figures(tmp_path)
    assert set(figures) == {"fid", "kid", "label_fidelity_generated", "label_fidelity_real",
                            "warping_error_generated", "warping_error_real",
                            "warping_error_generated_visible", "warping_error_real_visible"}
    assert figures["fid"]["generated_images"] == 4 * 3  # frames 2, 3, 4 of each clip
    assert figures["label_fidelity_real"]["mean_iou"] == 1.0
    assert figures["label_fidelity_real"]["images"] == 4 * 3
    warping = {key[len("warping_error_"):]: figure["value"] for key, figure in figures.items()
               if key.startswith("warping_error")}
    assert all(math.isfinite(value) and value >= 0 for value in warping.values())
    assert warping["real_visible"] < 0.005  # the exact flow moves the real frames exactly
    assert warping["real"] < 0.05  # occluded and uncovered pixels too
    assert "exact flow" in figures["warping_error_real"]["flow"]
    assert figures["warping_error_generated"]["pairs"] == 4 * 3  # (1, 2), (2, 3), (3, 4)
    # labels | frame 2 | frame 4 | real, per clip
    assert _sample_pngs(tmp_path)[:4] == ["00000_frame2.png", "00000_frame4.png",
                                          "00000_labels.png", "00000_real.png"]


def test_vid2vid_warping_error_of_noise_frames_is_far_above_the_real_frames(
        vid2vid_preset, tmp_path, capsys, monkeypatch):
    """A "generator" of uniform noise: its frames do not move with the flow."""

    def noise(self, inputs, training=False):
        clips = np.asarray(inputs["image"])
        shape = (clips.shape[0], clips.shape[1] - self.n_frames_G + 1, *clips.shape[2:])
        return np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")

    monkeypatch.setattr(Vid2Vid, "call", noise)
    status, _, err = run(capsys, *EVALUATE, "--model", "vid2vid", "--preset", vid2vid_preset,
                         "--data", "synthetic", "--how-many", 2, "--frames", 4,
                         "--out", tmp_path)
    assert status == 0, err
    figures = _figures(tmp_path)
    generated = figures["warping_error_generated"]["value"]
    assert generated > 0.5  # mean |u - v| of uniform noise in [-1, 1]: 2/3, and more near 0
    assert generated > 20 * figures["warping_error_real"]["value"]
    assert figures["fid"]["generated_images"] == 2 * 2


def test_vid2vid_scores_a_generator_of_the_real_frames_as_the_real_video(
        vid2vid_preset, tmp_path, capsys, monkeypatch):
    """A "generator" that returns the real frames it should make: FID 0, the warping errors
    and label fidelity of the real video."""

    def real_frames(self, inputs, training=False):
        return np.asarray(inputs["image"])[:, self.n_frames_G - 1:]

    monkeypatch.setattr(Vid2Vid, "call", real_frames)
    status, _, err = run(capsys, *EVALUATE, "--model", "vid2vid", "--preset", vid2vid_preset,
                         "--data", "synthetic", "--how-many", 2, "--frames", 5,
                         "--out", tmp_path)
    assert status == 0, err
    figures = _figures(tmp_path)
    # the same frames: 0 but for rounding (about 1e-11; frames one step off give 3e-7)
    assert abs(figures["fid"]["value"]) < 1e-9
    for kind in ("", "_visible"):
        assert figures[f"warping_error_generated{kind}"]["value"] == pytest.approx(
            figures[f"warping_error_real{kind}"]["value"], rel=1e-6)
    assert figures["label_fidelity_generated"]["mean_iou"] == 1.0


@pytest.mark.slow
def test_vid2vid_on_video_folders_needs_a_flow_source(vid2vid_preset, tmp_path, capsys):
    """Real videos carry no flow: the warping error is skipped with its reason, or computed
    with OpenCV's DIS flow (`--flow dis`), cached; clips as long as the shortest sequence."""
    pytest.importorskip("cv2", reason="--flow dis needs OpenCV (the flow extra)")
    data = synthetic.write_videos(tmp_path / "data", 3, phase="test", frames=4, size=32)
    synthetic.write_videos(data, 1, phase="test", frames=6, size=32)  # seq000 runs on to 6
    argv = [*EVALUATE, "--model", "vid2vid", "--preset", vid2vid_preset, "--data", data]
    status, _, err = run(capsys, *argv, "--out", tmp_path / "none")
    assert status == 0, err
    figures = _figures(tmp_path / "none")
    assert figures["fid"]["generated_images"] == 3 * 2  # 4 frames a clip, 2 generated
    assert "pass --flow dis" in figures["warping_error_generated"]["skipped"]
    assert "pass --flow dis" in figures["warping_error_real"]["skipped"]
    status, _, err = run(capsys, *argv, "--flow", "dis", "--flow-cache", tmp_path / "flows",
                         "--out", tmp_path / "dis")
    assert status == 0, err
    figures = _figures(tmp_path / "dis")
    assert figures["warping_error_real"]["flow"].startswith("DIS optical flow")
    assert figures["warping_error_real"]["value"] < 0.05
    assert len(list((tmp_path / "flows").glob("*.npy"))) == 3 * 3  # 3 pairs a clip


def test_video_options_and_too_short_clips_are_one_line(spade_preset, vid2vid_preset, tmp_path,
                                                        capsys):
    status, _, err = run(capsys, *EVALUATE, "--model", "spade", "--preset", spade_preset,
                         "--data", "synthetic", "--flow", "dis", "--out", tmp_path)
    assert status == 1
    one_line_error(err, r"--flow: spade scores images, not videos")
    vid2vid = [*EVALUATE, "--model", "vid2vid", "--preset", vid2vid_preset, "--data",
               "synthetic", "--out", tmp_path]
    status, _, err = run(capsys, *vid2vid, "--flow-cache", tmp_path / "flows")
    assert status == 1
    one_line_error(err, r"--flow-cache .*flows: a cache of DIS flows, which --flow dis")
    status, _, err = run(capsys, *vid2vid, "--frames", 2, "--how-many", 1)
    assert status == 1
    one_line_error(err, r"--frames: clips of 2 frames; the model generates frames 2\.\. of a "
                        r"clip and the warping error needs a pair of them: expected at least 3")

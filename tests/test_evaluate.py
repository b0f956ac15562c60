"""`keras-i2i evaluate` on the synthetic scenes with tiny untrained models. The Inception
network has random weights (`--inception-weights random`) and LPIPS too (`--lpips-weights
random`): nothing downloads, and the FID/KID/LPIPS values mean nothing; label fidelity uses
the synthetic scenes' exact oracle, so its value on the real images is checked."""

import json
import math

import keras
import numpy as np
import pytest
from PIL import Image

from keras_i2i import MUNIT, SPADE, cli
from keras_i2i.data import synthetic
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

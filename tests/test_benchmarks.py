"""The benchmark suite's entry point (`benchmarks/run.py`) and its cells (`steps.py`): a
tiny grid measured end to end, the table and figure of a results file, bad options."""

import json
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run  # noqa: E402


def _run(*args, **kwargs):
    return subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), *map(str, args)],
                          capture_output=True, text=True, **kwargs)


def test_a_tiny_grid_end_to_end(tmp_path):
    """Two sizes and two batch sizes of SPADE (width 8): three cells in their own
    processes, each with its seconds and peak memory; a size the generator cannot make is
    recorded with its error and the grid goes on."""
    out = tmp_path / "bench"
    process = _run("--models", "spade", "--sizes", "64", "96", "--batch-sizes", "1", "2",
                   "--width", "8", "--steps", "1", "--out", out, timeout=900)
    assert process.returncode == 0, process.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    cells = [(r["size"], r["batch_size"]) for r in results["records"]]
    assert cells == [(64, 1), (96, 1), (64, 2)]
    good = [r for r in results["records"] if "error" not in r]
    assert len(good) == 2
    for record in good:
        assert record["width"] == 8 and record["backend"] == "tensorflow"
        assert 0 < record["infer_s"] < record["train_s"]
        assert record["baseline_bytes"] < record["infer_peak_bytes"] <= record["train_peak_bytes"]
        assert record["reference"] is None and "ratio_train" not in record
    error = results["records"][1]["error"]
    assert "multiples of 64" in error and "(96, 96)" in error
    table = (out / "results.md").read_text()
    assert "| spade | 64 | 2 |" in table and "multiples of 64" in table
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"


def _record(model, size, batch_size, seconds, reference=None):
    return {"model": model, "size": size, "batch_size": batch_size, "backend": "tensorflow",
            "mode": "xla", "train_s": seconds, "infer_s": seconds / 10,
            "baseline_bytes": 2**30, "infer_peak_bytes": 2**31, "train_peak_bytes": 3 * 2**30,
            "reference": reference}


def test_the_table_and_figure_of_a_results_file(tmp_path):
    """`--plot` redraws from a results file: the ratios are the reference's seconds over
    ours, working memory the peak over the baseline."""
    theirs = {"train_s": 3.0, "infer_s": 0.2, "baseline_bytes": 0, "infer_peak_bytes": 2**30,
              "train_peak_bytes": 2**31}
    records = [run.ratios(_record("munit", 128, 1, 1.5, theirs)),
               run.ratios(_record("munit", 256, 1, 6.0, theirs)),
               {**_record("drit", 128, 1, 0), "error": "steps.py: exit 1: too small"}]
    results = {"date": "2026-11-29 12:00", "records": records,
               "machine": {"processor": "a CPU", "cpus": 2, "load_average": [0, 0, 0]},
               "options": {"models": ["munit", "drit"], "sizes": [128, 256],
                           "batch_sizes": [1]}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    assert _run("--plot", path).returncode == 0
    table = (tmp_path / "results.md").read_text()
    row = "| munit | {} | 1 | {} (3.000) | {} (0.200) | 2.00/1.00 (2.00/1.00) | {} |"
    assert row.format(128, "1.500", "0.150", "2.00 | 1.33") in table
    assert row.format(256, "6.000", "0.600", "0.50 | 0.33") in table
    assert "| drit | 128 | 1 | steps.py: exit 1: too small |" in table
    assert (tmp_path / "results.png").stat().st_size > 10_000

    again = {**results, "date": "2026-11-29 13:00", "records": [_record("drit", 128, 1, 2.0)],
             "options": {**results["options"], "models": ["drit"]}}
    later = tmp_path / "again" / "results.json"
    later.parent.mkdir()
    later.write_text(json.dumps(again))
    assert _run("--plot", path, later).returncode == 0
    merged = json.loads(path.read_text())
    assert [(r["model"], r["size"], "error" in r) for r in merged["records"]] == [
        ("munit", 128, False), ("munit", 256, False), ("drit", 128, False)]
    assert merged["merged_runs"][0]["date"] == "2026-11-29 13:00"
    assert "| drit | 128 | 1 | 2.000 (—) |" in (tmp_path / "results.md").read_text()


def test_bad_options_are_named():
    process = _run("--reference", "spade")
    assert process.returncode == 2 and "expected MODEL=CHECKOUT" in process.stderr
    process = _run("--reference", "init=INIT")
    assert process.returncode == 2 and "one of spade, pix2pixhd, munit, drit, vid2vid" in process.stderr
    process = _run("--reference", "spade=/no/such/folder")
    assert process.returncode == 2 and "/no/such/folder: no such folder" in process.stderr

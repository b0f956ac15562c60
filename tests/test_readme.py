"""The README's main commands, run exactly as written, as a new user runs them: in a fresh
folder, as processes, with nothing prepared."""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands():
    """The command lines of the first `bash` block after "### The `keras-i2i` command"."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### The `keras-i2i` command"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.split("#")[0].strip()]


def test_the_readme_block_is_the_main_job_and_its_use():
    commands = [argv[:2] for argv in readme_commands()]
    assert commands == [["keras-i2i", "presets"], ["keras-i2i", "train"],
                        ["keras-i2i", "synthetic"], ["keras-i2i", "test"],
                        ["keras-i2i", "translate"], ["keras-i2i", "export"]]


@pytest.mark.slow
def test_the_readme_commands_run_as_written(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    for argv in readme_commands():
        runner = [sys.executable, "-c", "import sys; from keras_i2i.cli import run; "
                                        "sys.argv[0] = 'keras-i2i'; run()"]
        done = subprocess.run([*runner, *argv[1:]], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=1200)
        assert done.returncode == 0, (argv, done.stderr)
        assert done.stderr == "", (argv, done.stderr)  # quiet: no TensorFlow log lines
    page = (tmp_path / "results" / "spade" / "index.html").read_text()
    assert page.count("<tr>") == 1 + 8  # the heading and the 8 test scenes
    translated = sorted((tmp_path / "results" / "translated").iterdir())
    assert len(translated) == 8
    image = np.asarray(Image.open(translated[0]), "float32")
    assert image.shape == (64, 64, 3) and image.std() > 10  # a picture, not a flat image
    assert (tmp_path / "serving" / "spade" / "1" / "saved_model.pb").is_file()

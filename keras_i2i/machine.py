"""The machine at hand: its processor's name, and where keras-i2i keeps files on it between
runs. Imports neither Keras nor TensorFlow."""

import os
import pathlib
import platform


def processor():
    """The CPU's model name ("AMD EPYC 7B13", from `/proc/cpuinfo` on Linux), else what
    `platform` knows ("arm", "x86_64")."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cache_dir(*parts):
    """`$KERAS_I2I_CACHE/<parts>`, by default `~/.cache/keras_i2i/<parts>`."""
    root = os.environ.get("KERAS_I2I_CACHE") or pathlib.Path.home() / ".cache" / "keras_i2i"
    return pathlib.Path(root, *parts)

"""Input pipeline throughput: samples per second of the loaders, with nothing else running.

    python benchmarks/data.py [--data ../shared/data] [--seconds 10]

Prints one line per pipeline: the Cityscapes sample at 512x256 (SPADE's `cityscapes` settings:
three 2048x1024 PNGs decoded, validated and resized per sample; then with `cache=True`, which
keeps the resized samples and leaves only crop/flip per epoch), and the synthetic scenes and
videos generated on the fly. A training step is fed when these rates exceed its
samples-per-second (batch size / step time).
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from keras_i2i import data  # noqa: E402


def samples_per_second(dataset, seconds, batch_size):
    """Iterates `dataset` (repeated) for about `seconds` after a warm-up; samples per second."""
    iterator = iter(dataset.repeat())
    for _ in range(2):
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(iterator)
        count += batch_size
    return count / (time.perf_counter() - start)


def pipelines(root):
    """(name, dataset, batch size) of every benchmarked pipeline."""
    cityscapes = pathlib.Path(root) / "cityscapes_sample"
    if cityscapes.is_dir():
        yield "cityscapes sample 512x256", data.paired_labels(cityscapes, "cityscapes"), 1
        cached = data.paired_labels(cityscapes, "cityscapes", cache=True)
        yield "cityscapes sample 512x256, cache=True", cached, 1
    else:
        print(f"{cityscapes} is absent: skipping the Cityscapes sample")
    yield "synthetic scenes 64x64", data.synthetic.scenes(4096, batch_size=16), 16
    yield "synthetic scenes 256x256", data.synthetic.scenes(4096, size=256, batch_size=4), 4
    yield "synthetic videos 8x64x64", data.synthetic.videos(4096, batch_size=4), 4


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", default=str(default), help="folder of the real dataset samples")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per pipeline")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs")
    for name, dataset, batch_size in pipelines(args.data):
        rate = samples_per_second(dataset, args.seconds, batch_size)
        print(f"{name:40s} {rate:8.1f} samples/s")


if __name__ == "__main__":
    main()

"""The reference vid2vid generator (NVIDIA/vid2vid's own `models/networks.py`) timed on this
machine's CPUs, for `vid2vid.py` (needs torch; run by `vid2vid.py` with `--torch-python`).

    python benchmarks/vid2vid_reference.py --src vid2vid [--ngf 64] [--size 256x128] [--steps 3]

Builds the reference's `CompositeGenerator` (`define_G(..., "composite", ...)`) with the street
options (`--fg`, 35 labels + instance edges, 3 frames, 3 downsamplings, 9 residual blocks,
batch norm) and `--ngf`, on the CPU (the code's `.cuda()` calls are made no-ops; its
`torchvision` import, used only by the VGG loss, is stubbed when absent). Times, on random
inputs, batch 1, in training mode as the reference always runs: one generated frame (no
gradients) and one frame's forward and backward pass (the gradient of the sum of its outputs).
Prints one JSON line: median wall-clock and CPU seconds of each over `--steps` calls after
one warm-up call, with `torch.set_num_threads(os.cpu_count())`.
"""

import argparse
import json
import os
import sys
import types

import numpy as np
import torch
from torch import nn

from timing import median_time, seconds

LABELS, FRAMES, DOWNSAMPLINGS = 35, 3, 3


def _on_the_cpu(self, *args, **kwargs):
    return self


def reference_generator(src, ngf):
    """The reference's street `CompositeGenerator` with `ngf` filters."""
    torch.Tensor.cuda = nn.Module.cuda = _on_the_cpu
    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401
        except ImportError:
            stub = types.ModuleType("torchvision")
            stub.models = None
            sys.modules["torchvision"] = stub
    sys.path.insert(0, os.path.join(src, "models"))
    import networks  # noqa: E402 (the reference's models/networks.py)

    options = argparse.Namespace(n_blocks=9, n_blocks_local=3, fg=True, no_flow=False,
                                 fp16=False, norm="batch")
    return networks.define_G((LABELS + 1) * FRAMES, 3, 3 * (FRAMES - 1), ngf, "composite",
                             DOWNSAMPLINGS, "batch", 0, [], options)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="the reference repository (models/)")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--size", default="256x128", help="WIDTHxHEIGHT")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    generator = reference_generator(args.src, args.ngf).train()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, LABELS, (FRAMES, height, width))
    one_hot = np.eye(LABELS + 1, dtype="float32")[labels].transpose(0, 3, 1, 2)
    inputs = torch.from_numpy(one_hot.reshape(1, -1, height, width))
    previous = torch.from_numpy(rng.uniform(-1, 1, (1, 3 * (FRAMES - 1), height, width))
                                .astype("float32"))
    mask = torch.from_numpy((labels[-1:] >= 24).astype("float32")[None])

    def frame():
        with torch.no_grad():
            generator(inputs, previous, mask, None, None, None, False)

    def forward_backward():
        generator.zero_grad()
        image, flow, weight, raw = generator(inputs, previous, mask, None, None, None, False)[:4]
        (image.sum() + flow.sum() + weight.sum() + raw.sum()).backward()

    figures = {"generate_frame": median_time(frame, args.steps, warmup=1),
               "generator_forward_backward": median_time(forward_backward, args.steps, warmup=1)}
    print(json.dumps({"torch": torch.__version__, "ngf": args.ngf, "size": args.size,
                      "parameters": sum(p.numel() for p in generator.parameters()),
                      **seconds(figures)}))


if __name__ == "__main__":
    main()

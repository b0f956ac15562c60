"""The reference DRIT (HsinYingLee/DRIT's own `src/model.py` and `src/networks.py`) timed on
this machine's CPUs, for `drit.py` (needs torch; run by `drit.py` with `--torch-python`).

    python benchmarks/drit_reference.py --src DRIT/src [--size 216] [--steps 3]

Builds the reference `DRIT` with its training defaults (`--concat 1`, `--dis_scale 3`, mode
seeking, 3 input channels; every width as published), on the CPU: the code's `.cuda(gpu)`
calls are made no-ops. Times, on random images in [-1, 1], batch 2 per domain as
`train.py`: a content iteration (`update_D_content`), a full iteration (`update_D`, then
`update_EG`), and a translation of one image (`test_forward`, evaluation mode, no
gradients, batch 1 as `test.py`). Prints one JSON line: median wall-clock and CPU seconds of
each over `--steps` calls after one warm-up call, with `torch.set_num_threads(os.cpu_count())`.

`update_EG` takes the gradients of its two steps (`backward_EG`, then `backward_G_alone` on
the retained graph) before stepping, the optimizers' steps in the reference's order: the
reference steps in between, which PyTorch >= 1.5 refuses (the second backward pass reads
weights the first step changed in place). The work timed is the same: two backward passes
and five Adam steps.
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

OPTIONS = types.SimpleNamespace(concat=1, no_ms=False, dis_scale=3, dis_norm="None",
                                dis_spectral_norm=False, input_dim_a=3, input_dim_b=3)


def _on_the_cpu(self, *args, **kwargs):
    return self


def update_eg_with_gradients_first(model):
    """The reference's `update_EG`, both backward passes before the steps (see the module)."""
    first = (model.enc_c_opt, model.enc_a_opt, model.gen_opt)
    second = (model.enc_c_opt, model.gen_opt)
    for optimizer in first:
        optimizer.zero_grad()
    model.backward_EG()
    gradients = {p: p.grad for o in first for group in o.param_groups for p in group["params"]}
    for optimizer in first:
        optimizer.zero_grad()
    model.backward_G_alone()
    alone = {p: p.grad for o in second for group in o.param_groups for p in group["params"]}
    for parameter, gradient in gradients.items():
        parameter.grad = gradient
    for optimizer in first:
        optimizer.step()
    for parameter, gradient in alone.items():
        parameter.grad = gradient
    for optimizer in second:
        optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True,
                        help="the reference's src/ folder (model.py, networks.py)")
    parser.add_argument("--size", type=int, default=216, help="image height and width")
    parser.add_argument("--steps", type=int, default=3, help="timed calls per figure")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    torch.Tensor.cuda = nn.Module.cuda = _on_the_cpu
    sys.path.insert(0, args.src)
    import model as reference  # noqa: E402 (the reference's src/model.py)

    drit = reference.DRIT(OPTIONS)
    drit.setgpu(0)
    drit.initialize()
    rng = np.random.default_rng(0)
    images_a, images_b = (torch.from_numpy(rng.uniform(-1, 1, (2, 3, args.size, args.size))
                                           .astype("float32")) for _ in "ab")

    def full_iteration():
        drit.update_D(images_a, images_b)
        update_eg_with_gradients_first(drit)

    def translate():
        with torch.no_grad():
            drit.test_forward(images_a[:1], a2b=True)

    figures = {"content_iteration": median_time(
        lambda: drit.update_D_content(images_a, images_b), args.steps, warmup=1)}
    figures["full_iteration"] = median_time(full_iteration, args.steps, warmup=1)
    drit.eval()
    figures["translate"] = median_time(translate, args.steps, warmup=1)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      **seconds(figures)}))


if __name__ == "__main__":
    main()

"""One configuration of a model's official PyTorch code timed in this process: the reference
side of the benchmark suite (`run.py` runs it once per configuration with a Python that has
torch; `drit.py` and `vid2vid.py` run it too).

    python benchmarks/reference.py --model {spade,pix2pixhd,munit,drit,vid2vid} --src CHECKOUT \
        --size H W --batch-size B [--width N] [--steps 3] [--device cpu|cuda]

`--src` is a checkout of the official repository (DRIT: its `src/` folder), whose code is
imported from there. Each model is built as this package's preset, at H x W, batch B,
`--width` (default: the preset's) as the generator's width:

- spade (NVlabs/SPADE, `cityscapes`): `Pix2PixTrainer` with `train.py --dataset_mode
  cityscapes`'s options (35 labels + instance edges, `more` upsampling layers, sync-batch
  SPADE, a two-scale four-layer discriminator, hinge loss, TTUR), `--ngf` the width,
  `--crop_size W --aspect_ratio W/H`, `--no_vgg_loss`. Step: `run_generator_one_step`, then
  `run_discriminator_one_step`; inference: the model's `inference` mode. Its first map is
  W/64 wide: training at batch 1 needs it larger than 1 x 1 (W >= 128 for square images).
- pix2pixhd (NVIDIA/pix2pixHD, `label2city_512p`): `create_model` with `train.py`'s defaults
  (global generator, 35 labels + instance edges, two 3-layer discriminators, LSGAN + feature
  matching), `--ngf` the width, `--no_vgg_loss`. Step: the model's forward computing the
  losses, then the generator's backward pass and Adam step and the discriminator's
  (`train.py`); inference: `inference(label, instance)`.
- munit (NVlabs/MUNIT, `edges2shoes`): `MUNIT_Trainer` on `configs/edges2shoes_folder.yaml`,
  gen `dim` the width, `vgg_w` 0. Step: `dis_update`, then `gen_update` (`train.py`);
  inference: `gen_a`'s content code decoded by `gen_b` with a random style (`test.py`).
- drit (HsinYingLee/DRIT, `yosemite`): `DRIT` with `train.py`'s defaults (`--concat 1`,
  `--dis_scale 3`, mode seeking); its widths are fixed (`--width` does not apply), its
  content discriminator, made for 216 x 216 crops, needs H, W >= 212. Step: one cycle of
  `--d_iter` 3 iterations of B images per domain: two `update_D_content`, then `update_D`
  and `update_EG`; inference: `test_forward` a -> b. `update_EG` takes its two
  backward passes (`backward_EG`, `backward_G_alone` on the retained graph) before the
  optimizers' steps, in the reference's order: the reference steps in between, which torch
  >= 1.5 refuses (the second pass reads weights the first step changed in place); the work
  is the same.
- vid2vid (NVIDIA/vid2vid, `cityscapes_512`): the `CompositeGenerator` of `define_G` with the
  street options (`--fg`, 35 labels + instance edges, 3 frames, 3 downsamplings, 9 residual
  blocks, batch norm), `ngf` the width, always in training mode as the reference runs it.
  Its training step needs CUDA and FlowNet2: `train_s` is null, and `forward_backward_s` is
  one frame's forward and backward pass (the gradient of the sum of its outputs); inference:
  one generated frame.

Inference runs in evaluation mode (vid2vid: training mode) without gradients (pix2pixHD's
`inference` turns them off only on torch 0.4) and is timed first, then the step. Each figure
is the median of `--steps` calls after one warm-up call (`timing.median_time`), in wall-clock
and CPU seconds of all the process's threads, inference divided by B; on cuda each call ends
with `torch.cuda.synchronize()`. Memory: on the CPU the peak RSS (`ru_maxrss`) after the
imports (`baseline_bytes`), after the inference timings, after the step's (it only grows);
on cuda `baseline_bytes` is 0 and each phase's `torch.cuda.max_memory_allocated()`, the
peak reset before it.
`torch.set_num_threads(os.cpu_count())`, `torch.set_flush_denormal(True)` (as TensorFlow's
and XLA's CPU threads: without it DRIT's first training cycles ran 5x slower, in
denormal arithmetic), `torch.manual_seed(0)`, inputs
from numpy's `default_rng(0)`. Whatever the reference prints goes to stderr; the last line
of stdout is the JSON object.

Made to run here, without touching the checkout: on the CPU the code's `.cuda()` calls
return their tensor or module, and `torch.cuda.FloatTensor` / `ByteTensor` are the CPU's
(pix2pixHD's one-hot and edge maps). Stand-ins for what the timed code does not use, only
where it is absent: SPADE's `models/networks/sync_batchnorm` (a git submodule) is
`nn.BatchNorm2d` and `nn.DataParallel` (on one device the synchronized norm is plain batch
norm); `dill` (SPADE's `util/util.py`) is `pickle`; `torch.utils.serialization.load_lua`
(gone since torch 1.0; MUNIT's `utils.py` imports it for its Lua VGG) is None; `torchvision`
(vid2vid's VGG loss) an empty module. MUNIT needs PyYAML (installed into the torch
environment for it): its config is read with `yaml.safe_load` (the reference's `get_config`
calls `yaml.load` without the `Loader` PyYAML >= 6 requires).
"""

import argparse
import collections
import contextlib
import importlib.util
import json
import os
import pickle
import resource
import sys
import tempfile
import types

import numpy as np
import torch
from torch import nn

from timing import median_time

LABELS = 35  # Cityscapes label ids (spade, pix2pixhd, vid2vid)
INSTANCES = 4  # random instance ids per map
WIDTHS = {"spade": 64, "pix2pixhd": 64, "munit": 64, "drit": None, "vid2vid": 128}
MUNIT_CONFIG = "configs/edges2shoes_folder.yaml"
DRIT_OPTIONS = types.SimpleNamespace(concat=1, no_ms=False, dis_scale=3, dis_norm="None",
                                     dis_spectral_norm=False, input_dim_a=3, input_dim_b=3)
D_ITER = 3  # DRIT's iterations per cycle
FRAMES, DOWNSAMPLINGS = 3, 3  # vid2vid's frames in and downsamplings

# `phases`: {name: callable or None}, timed in order ("infer", "train", extras).
Reference = collections.namedtuple("Reference", "phases config")


def _on_the_cpu(self, *args, **kwargs):
    return self


def run_on_the_cpu():
    """The reference code's `.cuda()` calls and `torch.cuda` tensor types, on the CPU."""
    torch.Tensor.cuda = nn.Module.cuda = _on_the_cpu
    torch.cuda.FloatTensor, torch.cuda.ByteTensor = torch.FloatTensor, torch.ByteTensor


def require(src, paths, checkout):
    """Exits with one line naming the first of `paths` (under `src`) that is missing."""
    for path in paths:
        full = os.path.join(src, path)
        if not os.path.isfile(full):
            raise SystemExit(f"{full}: not found; --src must be {checkout}")


def module(name, **attributes):
    """A module `name` holding `attributes`."""
    made = types.ModuleType(name)
    made.__dict__.update(attributes)
    return made


def stand_in(name, **attributes):
    """`name` importable with `attributes`: a `module` of them where `name` cannot be
    imported, those it lacks added where it can."""
    if importlib.util.find_spec(name) is None:
        sys.modules[name] = module(name, **attributes)
        return
    found = importlib.import_module(name)
    for key, value in attributes.items():
        if not hasattr(found, key):
            setattr(found, key, value)


def parse_options(options_class, arguments):
    """`options_class().parse()` of the reference's command line `arguments`."""
    argv, sys.argv = sys.argv, ["train.py", *arguments]
    try:
        return options_class().parse()
    finally:
        sys.argv = argv


def parameters(*modules):
    """How many weights `modules` hold."""
    return sum(p.numel() for module in modules for p in module.parameters())


def images(rng, shape, device):
    """Uniform random images in [-1, 1]."""
    return torch.from_numpy(rng.uniform(-1, 1, shape).astype("float32")).to(device)


def label_maps(rng, args):
    """Random label ids and instance ids, (B, 1, H, W) floats as the data loaders give."""
    shape = (args.batch_size, 1, *args.size)
    return (torch.from_numpy(rng.integers(0, high, shape).astype("float32")).to(args.device)
            for high in (LABELS, INSTANCES))


def inference(model, function):
    """`function` in `model`'s evaluation mode, without gradients."""

    def call():
        model.eval()
        with torch.no_grad():
            function()

    return call


def training(model, function):
    """`function` in `model`'s training mode."""

    def call():
        model.train()
        function()

    return call


def import_spade(src):
    require(src, ("models/pix2pix_model.py", "trainers/pix2pix_trainer.py",
                  "options/train_options.py", "data/cityscapes_dataset.py"),
            "a checkout of NVlabs/SPADE")
    sys.path.insert(0, src)
    if not os.path.isdir(os.path.join(src, "models", "networks", "sync_batchnorm")):
        name = "models.networks.sync_batchnorm"
        sys.modules[name] = module(name, SynchronizedBatchNorm2d=nn.BatchNorm2d,
                                   DataParallelWithCallback=nn.DataParallel)
    if importlib.util.find_spec("dill") is None:
        sys.modules["dill"] = pickle
    from options.train_options import TrainOptions
    from trainers.pix2pix_trainer import Pix2PixTrainer

    return TrainOptions, Pix2PixTrainer


def build_spade(imported, args, folder):
    options_class, trainer_class = imported
    height, width = args.size
    opt = parse_options(options_class, [
        "--dataset_mode", "cityscapes", "--name", "spade", "--checkpoints_dir", folder,
        "--gpu_ids", "0" if args.device == "cuda" else "-1", "--batchSize", str(args.batch_size),
        "--crop_size", str(width), "--load_size", str(width),
        "--aspect_ratio", str(width / height), "--ngf", str(args.width), "--no_vgg_loss"])
    trainer = trainer_class(opt)
    model = trainer.pix2pix_model_on_one_gpu
    rng = np.random.default_rng(0)
    label, instance = label_maps(rng, args)
    data = {"label": label, "instance": instance,
            "image": images(rng, (args.batch_size, 3, height, width), args.device)}

    def generate():
        trainer.pix2pix_model(data, mode="inference")

    def step():
        trainer.run_generator_one_step(data)
        trainer.run_discriminator_one_step(data)

    names = ("ngf", "ndf", "label_nc", "semantic_nc", "num_upsampling_layers", "norm_G",
             "norm_D", "netD", "num_D", "n_layers_D", "gan_mode", "no_vgg_loss", "no_TTUR",
             "crop_size", "aspect_ratio")
    config = {name: getattr(opt, name) for name in names}
    config["parameters"] = {"G": parameters(model.netG), "D": parameters(model.netD)}
    return Reference({"infer": inference(model, generate), "train": training(model, step)},
                     config)


def import_pix2pixhd(src):
    require(src, ("models/models.py", "models/pix2pixHD_model.py", "models/networks.py",
                  "options/train_options.py"), "a checkout of NVIDIA/pix2pixHD")
    sys.path.insert(0, src)
    from models.models import create_model
    from options.train_options import TrainOptions

    return TrainOptions, create_model


def build_pix2pixhd(imported, args, folder):
    options_class, create_model = imported
    opt = parse_options(options_class, [
        "--name", "label2city_512p", "--checkpoints_dir", folder,
        "--gpu_ids", "0" if args.device == "cuda" else "-1", "--batchSize", str(args.batch_size),
        "--ngf", str(args.width), "--no_vgg_loss"])
    model = create_model(opt)
    network = getattr(model, "module", model)  # DataParallel on a GPU
    rng = np.random.default_rng(0)
    label, instance = label_maps(rng, args)
    image = images(rng, (args.batch_size, 3, *args.size), args.device)

    def step():
        losses, _ = model(label, instance, image, None)
        losses = dict(zip(network.loss_names, (
            torch.mean(loss) if not isinstance(loss, int) else loss for loss in losses)))
        loss_d = (losses["D_fake"] + losses["D_real"]) * 0.5
        loss_g = losses["G_GAN"] + losses.get("G_GAN_Feat", 0) + losses.get("G_VGG", 0)
        for optimizer, loss in ((network.optimizer_G, loss_g), (network.optimizer_D, loss_d)):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    names = ("netG", "ngf", "n_downsample_global", "n_blocks_global", "norm", "label_nc",
             "no_instance", "instance_feat", "ndf", "num_D", "n_layers_D", "no_lsgan",
             "no_ganFeat_loss", "no_vgg_loss")
    config = {name: getattr(opt, name) for name in names}
    config["parameters"] = {"G": parameters(network.netG), "D": parameters(network.netD)}
    return Reference({"infer": inference(network, lambda: network.inference(label, instance)),
                      "train": training(network, step)}, config)


def import_munit(src):
    require(src, ("trainer.py", "networks.py", "utils.py", MUNIT_CONFIG),
            "a checkout of NVlabs/MUNIT")
    import yaml

    stand_in("torch.utils.serialization", load_lua=None)
    sys.path.insert(0, src)
    from trainer import MUNIT_Trainer

    with open(os.path.join(src, MUNIT_CONFIG)) as file:
        return yaml.safe_load(file), MUNIT_Trainer


def build_munit(imported, args, folder):
    config, trainer_class = imported
    config["gen"]["dim"], config["vgg_w"] = args.width, 0
    trainer = trainer_class(config).to(args.device)
    rng = np.random.default_rng(0)
    image_a, image_b = (images(rng, (args.batch_size, 3, *args.size), args.device)
                        for _ in "ab")
    style_dim = config["gen"]["style_dim"]

    def step():
        trainer.dis_update(image_a, image_b, config)
        trainer.gen_update(image_a, image_b, config)

    def translate():
        content, _ = trainer.gen_a.encode(image_a)
        styles = torch.randn(args.batch_size, style_dim, 1, 1, device=args.device)
        trainer.gen_b.decode(content, styles)

    built = {"gen": config["gen"], "dis": config["dis"], "vgg_w": config["vgg_w"],
             "recon_x_cyc_w": config["recon_x_cyc_w"],
             "parameters": {"gen": parameters(trainer.gen_a, trainer.gen_b),
                            "dis": parameters(trainer.dis_a, trainer.dis_b)}}
    return Reference({"infer": inference(trainer, translate),
                      "train": training(trainer, step)}, built)


def import_drit(src):
    require(src, ("model.py", "networks.py"), "the src/ folder of a checkout of HsinYingLee/DRIT")
    sys.path.insert(0, src)
    import model

    return model


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


def build_drit(reference, args, folder):
    drit = reference.DRIT(DRIT_OPTIONS)
    drit.setgpu(0)
    drit.initialize()
    rng = np.random.default_rng(0)
    image_a, image_b = (images(rng, (args.batch_size, 3, *args.size), args.device)
                        for _ in "ab")

    def cycle():
        for _ in range(D_ITER - 1):
            drit.update_D_content(image_a, image_b)
        drit.update_D(image_a, image_b)
        update_eg_with_gradients_first(drit)

    config = {**vars(DRIT_OPTIONS), "d_iter": D_ITER, "nz": drit.nz,
              "width": "fixed by the reference (--width does not apply)",
              "parameters": {"enc_c": parameters(drit.enc_c), "enc_a": parameters(drit.enc_a),
                             "gen": parameters(drit.gen)}}
    return Reference({"infer": inference(drit, lambda: drit.test_forward(image_a, a2b=True)),
                      "train": training(drit, cycle)}, config)


def import_vid2vid(src):
    require(src, ("models/networks.py",), "a checkout of NVIDIA/vid2vid")
    stand_in("torchvision", models=None)
    sys.path.insert(0, os.path.join(src, "models"))
    import networks

    return networks


def build_vid2vid(networks, args, folder):
    options = argparse.Namespace(n_blocks=9, n_blocks_local=3, fg=True, no_flow=False,
                                 fp16=False, norm="batch")
    generator = networks.define_G(
        (LABELS + 1) * FRAMES, 3, 3 * (FRAMES - 1), args.width, "composite", DOWNSAMPLINGS,
        "batch", 0, [0] if args.device == "cuda" else [], options).train()
    height, width = args.size
    rng = np.random.default_rng(0)
    labels = rng.integers(0, LABELS, (args.batch_size, FRAMES, height, width))
    one_hot = np.eye(LABELS + 1, dtype="float32")[labels].transpose(0, 1, 4, 2, 3)
    window = torch.from_numpy(one_hot.reshape(args.batch_size, -1, height, width))
    previous = images(rng, (args.batch_size, 3 * (FRAMES - 1), height, width), args.device)
    mask = torch.from_numpy((labels[:, -1:] >= 24).astype("float32"))
    window, mask = window.to(args.device), mask.to(args.device)

    def frame():
        return generator(window, previous, mask, None, None, None, False)

    def generate():
        with torch.no_grad():
            frame()

    def forward_backward():
        generator.zero_grad()
        sum(output.sum() for output in frame()[:4]).backward()

    config = {"ngf": args.width, "label_nc": LABELS, "use_instance": True, "fg": True,
              "n_frames_G": FRAMES, "n_downsample_G": DOWNSAMPLINGS, "n_blocks": 9,
              "norm": "batch", "parameters": {"G": parameters(generator)}}
    return Reference({"infer": generate, "train": None, "forward_backward": forward_backward},
                     config)


MODELS = {"spade": (import_spade, build_spade), "pix2pixhd": (import_pix2pixhd, build_pix2pixhd),
          "munit": (import_munit, build_munit), "drit": (import_drit, build_drit),
          "vid2vid": (import_vid2vid, build_vid2vid)}


def peak_bytes(device):
    """The process's peak RSS (CPU) or the peak of allocated GPU memory (cuda)."""
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def synchronized(function):
    """`function`, then waiting for the GPU."""

    def call():
        function()
        torch.cuda.synchronize()

    return call


def measure(phases, args):
    """`{name}_s`, `{name}_cpu_s` and `{name}_peak_bytes` of each phase, in order (None for
    a phase that is None); inference per image."""
    figures = {}
    for name, function in phases.items():
        if function is None:
            figures.update({f"{name}_{key}": None for key in ("s", "cpu_s", "peak_bytes")})
            continue
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            function = synchronized(function)
        wall, cpu = median_time(function, args.steps, warmup=1)
        images_per_call = args.batch_size if name == "infer" else 1
        figures.update({f"{name}_s": wall / images_per_call,
                        f"{name}_cpu_s": cpu / images_per_call,
                        f"{name}_peak_bytes": peak_bytes(args.device)})
    return figures


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=MODELS)
    parser.add_argument("--src", required=True, help="the official code's checkout "
                        "(DRIT: its src/ folder)")
    parser.add_argument("--size", type=int, nargs=2, required=True, metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--width", type=int, help="the generator's width (default: the "
                        "preset's; DRIT's widths are fixed)")
    parser.add_argument("--steps", type=int, default=3, help="timed calls per figure")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    if args.width is None:
        args.width = WIDTHS[args.model]
    return args


def main():
    args = parse_arguments()
    torch.set_num_threads(os.cpu_count())
    torch.set_flush_denormal(True)  # as TensorFlow's and XLA's CPU threads
    torch.manual_seed(0)
    if args.device == "cpu":
        run_on_the_cpu()
    import_model, build = MODELS[args.model]
    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory() as folder:
        imported = import_model(args.src)
        baseline = 0 if args.device == "cuda" else peak_bytes(args.device)
        reference = build(imported, args, folder)
        figures = measure(reference.phases, args)
    print(json.dumps({"model": args.model, "size": args.size, "batch_size": args.batch_size,
                      "steps": args.steps, **figures, "baseline_bytes": baseline,
                      "torch": torch.__version__, "device": args.device,
                      "threads": torch.get_num_threads(), "config": reference.config}))


if __name__ == "__main__":
    main()

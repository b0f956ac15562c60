"""vid2vid speed: generated frames per second and seconds per training clip, beside the
reference generator's forward and forward/backward passes timed in the same run.

    python benchmarks/vid2vid.py --reference-src vid2vid --torch-python torchenv/bin/python \
        [--ngf 64] [--size 256x128] [--frames 1] [--steps 3] [--modes graph xla] \
        [--train-modes xla] [--vgg] [--out results/vid2vid.json]

Configuration: the `cityscapes_512` preset (the street model: 35 labels + instance edges, the
foreground generator, 3 frames in, 3 downsamplings, 9 residual blocks, batch norm; two-scale
image and temporal discriminators) with `--ngf` (default 64), at `--size` WIDTHxHEIGHT (default
256x128), batch 1, on one synthetic clip (`keras_i2i.data.synthetic.videos`: label, instance,
image and exact flow frames). Timed:

- a generated frame: `Vid2Vid.next_frame` (the generator's forward pass in training mode, as
  the reference runs it, and the shift of the previous frames) as a `tf.function`, beside the
  reference's frame (`CompositeGenerator.forward` without gradients); frames per second is
  its inverse;
- a frame's forward and backward pass: the gradient of the sum of `next_frame`'s image, raw
  image, flow and weight over the generator's weights (the reference's `forward_backward`);
- streaming: a frame of `Vid2Vid.generate` (eager, frame by frame) on the clip's labels,
  timed first, before anything is compiled (timed after the XLA training step, at load 5, it
  once took 2.7 times as long);
- a training clip: `train_on_batch` on a clip of n_frames_G - 1 real frames and `--frames`
  generated ones (one chunk, every network's optimizer step; the temporal discriminators
  see frames from 3 generated frames on), without the VGG loss (`lambda_vgg` 0; with
  `--vgg` 10, with random VGG19 weights, `vgg_weights=None`, which cost the time of
  ImageNet's and need no download). The reference's training step needs CUDA and FlowNet2,
  so clips are timed here alone, with no ratio.

Each figure is the median of `--steps` timed calls after one warm-up call (tracing and
compiling excluded), for the plain `tf.function` graph and with XLA (`jit_compile=True`) (the
training clip by default with XLA alone: the first graph step of a 1-frame clip took 14
minutes, 7 of CPU, at load 6 on 2 CPUs, against 4 minutes, 2 of CPU, for XLA's), in wall-clock
seconds and CPU seconds of all the process's threads; the streaming figure is the median of
`--steps` frames after one. The reference (`reference.py --model vid2vid`, NVIDIA/vid2vid's
`models/networks.py` itself) is timed in a subprocess of `--torch-python` before the Keras
figures; without `--reference-src` only the Keras figures are taken. Ratios are reference /
Keras (> 1: Keras faster), of wall-clock and of CPU seconds. The machine's load average before
and after is recorded: on a shared machine wall-clock figures grow with the load, and vary from
run to run (on this 2-CPU machine the reference's frame took 3.9 s at load 1, 6.2 s and 13.3 s
in two runs at load 5, its CPU seconds 3.7, 3.9 and 5.9): compare CPU seconds, and runs on a
quiet machine.
Each generated frame of `--frames` adds to the time of the training step and of its
compilation.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.models.vid2vid import Vid2Vid  # noqa: E402

from timing import machine, median_time, reference_figures, seconds, write_results  # noqa: E402

PRESET = "cityscapes_512"
OUTPUTS = ("image", "image_raw", "flow", "weight")
COMPARED = ("generate_frame", "generator_forward_backward")
REFERENCE_NAMES = dict(zip(COMPARED, ("infer", "forward_backward")))  # in reference.py
MODES = ("graph", "xla")


def reference_timings(torch_python, src, ngf, height, width, steps):
    """`reference.py`'s vid2vid figures, batch 1, run by `torch_python`, under this script's
    names (`COMPARED`)."""
    results = reference_figures(torch_python, [
        "--model", "vid2vid", "--src", src, "--width", ngf, "--size", height, width,
        "--batch-size", 1, "--steps", steps])
    return {"torch": results["torch"], "ngf": ngf, "size": f"{width}x{height}",
            "parameters": results["config"]["parameters"]["G"],
            **{f"{ours}_{unit}": results[f"{theirs}_{unit}"]
               for ours, theirs in REFERENCE_NAMES.items() for unit in ("s", "cpu_s")}}


def first_window(model, clip):
    """`next_frame`'s inputs for clip frame n_frames_G - 1: its window of encoded labels
    (frames as channels) and the real frames before it (one spatial scale)."""
    frames = model.n_frames_G
    window = tf.concat([model.encode_frames(clip["label"][:, t], clip["instance"][:, t])
                        for t in range(frames)], axis=-1)
    previous = tf.concat([clip["image"][:, t] for t in range(frames - 1)], axis=-1)
    return window, [previous]


def generator_timings(model, window, previous, steps, jit):
    """`generate_frame` and `generator_forward_backward` (wall, CPU) of `model.next_frame` on
    `first_window`'s inputs, as a `tf.function` with or without XLA."""
    generate = tf.function(lambda: model.next_frame(window, previous)["image"],
                           jit_compile=jit)

    @tf.function(jit_compile=jit)
    def forward_backward():
        variables = model.generator.trainable_variables
        with tf.GradientTape() as tape:
            step = model.next_frame(window, previous)
            total = sum(tf.reduce_sum(step[key]) for key in OUTPUTS)
        return tape.gradient(total, variables)

    return {"generate_frame": median_time(lambda: generate().numpy(), steps, warmup=1),
            "generator_forward_backward": median_time(forward_backward, steps, warmup=1)}


def clip_timings(model, clip, steps, jit):
    """`train_clip` (wall, CPU): `train_on_batch(clip)`, compiled with or without XLA."""
    model.compile(jit_compile=jit)
    return {"train_clip": median_time(lambda: model.train_on_batch(clip), steps, warmup=1)}


def stream_timings(model, clip, steps):
    """(wall, CPU) of a generated frame of `Vid2Vid.generate` on `clip`'s label and instance
    frames, started with its real first frames: the median of `steps` frames after one."""
    first = model.n_frames_G - 1
    video = model.generate(clip["label"][0].numpy(), instance_video=clip["instance"][0].numpy(),
                           first_frames=clip["image"][0, :first].numpy())
    for _ in range(first):  # the given first frames
        next(video)
    return median_time(lambda: next(video), steps, warmup=1)


def rates(results, generated=None):
    """Adds frames per second and the training clip's seconds per generated frame to
    `results` (`seconds`' figures) where their figures are."""
    if "generate_frame_s" in results:
        results["frames_per_second"] = 1 / results["generate_frame_s"]
    if "train_clip_s" in results:
        results["train_frame_s"] = results["train_clip_s"] / generated
        results["train_frame_cpu_s"] = results["train_clip_cpu_s"] / generated
    return results


def print_table(results, rows):
    """One line per row of `results` (the reference, the modes, streaming)."""
    columns = (("generate_frame", "s/frame"), ("generator_forward_backward", "s/fwd+bwd"),
               ("train_clip", "s/clip"))
    print(f"{'':10s}" + "".join(f"{title:>20s}" for _, title in columns) + f"{'frames/s':>10s}"
          + "   (wall, CPU seconds)")
    for name in rows:
        figures = results.get(name)
        if not figures:
            continue
        cells = [f"{figures[f'{key}_s']:10.2f} ({figures[f'{key}_cpu_s']:6.2f})"
                 if f"{key}_s" in figures else f"{'-':>20s}" for key, _ in columns]
        fps = f"{figures['frames_per_second']:10.3f}" if "frames_per_second" in figures else ""
        print(f"{name:10s}" + "".join(f"{cell:>20s}" for cell in cells) + fps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ngf", type=int, default=64, help="the generator's width")
    parser.add_argument("--size", default="256x128", help="WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=1,
                        help="generated frames per training clip (at most the preset's 6)")
    parser.add_argument("--steps", type=int, default=3, help="timed calls per figure")
    parser.add_argument("--modes", nargs="*", choices=MODES, default=list(MODES),
                        help="generator timings: tf.function without / with XLA")
    parser.add_argument("--train-modes", nargs="*", choices=MODES, default=["xla"],
                        help="training clip timings (graph: its tracing alone takes minutes)")
    parser.add_argument("--vgg", action="store_true", help="include the VGG loss (random VGG19)")
    parser.add_argument("--reference-src", help="NVIDIA/vid2vid's folder (holding models/)")
    parser.add_argument("--torch-python", default="python", help="a Python with torch")
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))

    keras.utils.set_random_seed(0)
    model = Vid2Vid.from_preset(PRESET, ngf=args.ngf, lambda_vgg=10.0 if args.vgg else 0.0,
                                vgg_weights=None)
    first = model.n_frames_G - 1
    if model.clip_plan(first + args.frames) != (args.frames, args.frames):
        parser.error(f"--frames must be 1 to {model.n_frames_total} ({PRESET}'s frames per "
                     f"clip at first), got {args.frames}")
    video = next(iter(synthetic.videos(1, size=(height, width),
                                       frames=max(first + args.frames, first + 1 + args.steps))))
    clip = {key: value[:, : first + args.frames - (key == "flow")]
            for key, value in video.items()}
    results = {"machine": machine(), "preset": PRESET, "ngf": args.ngf, "size": args.size,
               "batch_size": 1, "generated_frames_per_clip": args.frames,
               "lambda_vgg": model.lambda_vgg, "vgg_weights": None, "steps": args.steps,
               "generator_parameters": sum(int(np.prod(v.shape))
                                           for v in model.generator.trainable_variables)}
    print(f"{results['machine']['cpus']} CPUs, load average "
          f"{results['machine']['load_average_before'][0]:.1f}; {PRESET}, ngf {args.ngf}, "
          f"{args.size}, {args.frames} generated frame(s) per training clip", flush=True)
    if args.reference_src:
        results["reference"] = rates(reference_timings(
            args.torch_python, args.reference_src, args.ngf, height, width, args.steps))
    results["eager_generate"] = rates(seconds(
        {"generate_frame": stream_timings(model, video, args.steps)}))
    window, previous = first_window(model, video)
    for mode in MODES:
        figures = {}
        if mode in args.modes:
            figures.update(generator_timings(model, window, previous, args.steps, mode == "xla"))
        if mode in args.train_modes:
            figures.update(clip_timings(model, clip, args.steps, mode == "xla"))
        if figures:
            results[mode] = rates(seconds(figures), args.frames)
    print_table(results, ("reference", *MODES, "eager_generate"))
    if "reference" in results:
        ratios = results["ratio_reference_to_keras"] = {}
        for mode in args.modes:
            ratios[mode] = {f"{figure}_{unit}": results["reference"][f"{figure}_{unit}"]
                            / results[mode][f"{figure}_{unit}"]
                            for figure in COMPARED for unit in ("s", "cpu_s")}
            print(f"reference / {mode}: " + ", ".join(
                f"{name} {ratio:.2f}x" for name, ratio in ratios[mode].items()))
    write_results(results, args.out)


if __name__ == "__main__":
    main()

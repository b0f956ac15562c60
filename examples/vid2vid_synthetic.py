"""vid2vid on the synthetic videos, on a CPU in minutes: a temporally consistent video against
a single-image model run frame by frame.

    python examples/vid2vid_synthetic.py [--out vid2vid_synthetic] [--steps 120] [--clips 160]
                                         [--single-image-model pix2pixhd|spade]
                                         [--jit] [--mixed-precision]

1. The single-image model, trained on the frames of the synthetic training videos:
   pix2pixHD's global generator (preset `synthetic_global`, directly at 64x64, its instance
   features then clustered; always with XLA, Pix2PixHD's default: its graph step is many
   times slower on a CPU), or SPADE (preset `synthetic`). It makes the first frames of every
   vid2vid video (the reference's `--use_single_G`) and, run on every frame alone, is the
   per-frame baseline.
2. vid2vid (preset `synthetic`, made light: `LIGHT`) on the training clips with their exact
   flow, the rates decaying over the second half (`training_callbacks`).
3. On held-out videos (seed 1, `--frames` frames): vid2vid generates each video from its
   label frames (`generate`, the first n_frames_G - 1 frames from the single-image model),
   which also translates every frame alone. For both, and for the real videos (for scale):
   the warping error (`keras_i2i.metrics.warping_error`, |frame_t - warp(frame_(t-1), exact
   flow)|, in [-1, 1] units) over the frames vid2vid generates, on the pixels visible in the
   previous frame (`same_instance_mask`: occluded, uncovered and moving-boundary pixels left
   out), also on every pixel and frame by frame; and the content kept (the day oracle
   segmenter against the label maps: pixel accuracy, mean IoU). A smooth, blurry video has
   a low warping error too: read it beside the content scores and the frames.
4. Writes into `--out`: `vid2vid.mp4` (every held-out video; a frame is labels | the
   single-image model per frame | vid2vid | real, twice enlarged; PNG frames in `frames/`
   without PyAV), `strip.png` (the first 8 frames of a held-out video: rows labels,
   single-image model per frame, vid2vid, real), `metrics.json` (with the seconds of every
   stage), `preset/` (vid2vid), `single_image_preset/`, and `saved_model/`, whose one-step
   signature a fresh process runs over a held-out video, fed the frames `generate` made
   before each (a free-running loop would measure how the model amplifies rounding
   differences, not the export).

`--jit` compiles vid2vid's (and SPADE's) training step with XLA too (pix2pixHD's always is):
on a 2-core CPU the compilation takes 2-3 minutes, then a clip trains about 4x faster than
in a graph, which pays off from about a hundred clips.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_i2i import visualize  # noqa: E402
from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.data.synthetic.datasets import video_sample  # noqa: E402
from keras_i2i.metrics.temporal import same_instance_mask, warping_error  # noqa: E402
from keras_i2i.models.pix2pixhd import Pix2PixHD  # noqa: E402
from keras_i2i.models.spade import SPADE  # noqa: E402
from keras_i2i.models.vid2vid import Vid2Vid  # noqa: E402

from common import (  # noqa: E402
    content_scores,
    fit_timed,
    parse_run_options,
    served_in_fresh_process,
)

# The synthetic preset made light for a few CPU minutes: clips of n_frames_G - 1 = 2 real
# frames and 2 generated ones (one optimizer step per clip), one temporal discriminator
# (frame pairs 1 apart: a clip has no frames 2 apart to show a second), the clip length
# constant (one trace of the step), 2 epochs at the rate then 2 decaying.
LIGHT = dict(n_frames_total=2, n_scales_temporal=1, niter=2, niter_decay=2, niter_step=4)
STRIP_FRAMES = 8


def training_frames(videos, frames, batch_size, shuffle=True):
    """Batches of `{"label", "instance", "image"}`: the frames of the first `videos`
    synthetic training videos (seed 0), `frames` frames each."""
    clips = synthetic.videos(videos, frames=frames, batch_size=None, seed=0, shuffle=shuffle)
    single = clips.map(lambda clip: {key: clip[key] for key in ("label", "instance", "image")})
    single = single.unbatch()
    if shuffle:
        single = single.shuffle(256, seed=0)
    return single.batch(batch_size, drop_remainder=shuffle)


def single_image_model(name, steps, batch_size, jit):
    """pix2pixHD or SPADE (`name`) trained for `steps` steps on batches of frames of the
    training videos; returns the model and `fit_timed`'s report."""
    frames = training_frames(max(1, steps * batch_size // 8), 8, batch_size)
    epochs = 4
    if name == "pix2pixhd":
        model = Pix2PixHD.from_preset("synthetic_global", niter=epochs // 2,
                                      niter_decay=epochs // 2)
        model.compile()  # with XLA, Pix2PixHD's default
        training = fit_timed(model, frames, steps, max(1, steps // epochs),
                             model.training_callbacks())
        model.cluster_features(training_frames(32, 8, 16, shuffle=False))
        return model, training
    model = SPADE.from_preset("synthetic")
    model.compile(jit_compile=True if jit else "auto")
    return model, fit_timed(model, frames, steps, max(1, steps // epochs))


def held_out_videos(count, frames, seed=1):
    """`count` videos no training clip contains: {"label", "instance": (N, T, H, W, 1),
    "image": (N, T, H, W, 3), "flow": (N, T - 1, H, W, 2)}."""
    samples = [video_sample(i, seed=seed, frames=frames) for i in range(count)]
    return {key: np.stack([sample[key] for sample in samples]) for key in samples[0]}


def per_frame(single, videos):
    """The single-image model on every frame alone: (N, T, H, W, 3)."""
    def flat(x):
        return x.reshape((-1, *x.shape[2:]))

    images = single.translate(flat(videos["label"]), flat(videos["instance"]))
    return images.reshape((*videos["label"].shape[:2], *images.shape[1:]))


def generated(model, single, videos):
    """vid2vid's videos, the first frames from the single-image model: (N, T, H, W, 3)."""
    return np.stack([
        np.stack(list(model.generate(label, instance_video=instance, first_frame_model=single)))
        for label, instance in zip(videos["label"], videos["instance"])
    ])


def scores(frames, videos, mask, start):
    """The warping error of videos (N, T, H, W, 3) over the pairs of frames (t - 1, t),
    t >= `start`: on the visible pixels (`mask`), every pixel, and per t; and the content
    kept in frames `start`..."""
    flows = videos["flow"][:, start - 1:]
    kept = frames[:, start:].reshape((-1, *frames.shape[2:]))
    return {
        "warping_error": warping_error(frames[:, start - 1:], flows, mask[:, start - 1:]),
        "warping_error_all_pixels": warping_error(frames[:, start - 1:], flows),
        "warping_error_per_frame": {
            t: round(warping_error(frames[:, t - 1 : t + 1], videos["flow"][:, t - 1 : t],
                                   mask[:, t - 1 : t]), 5)
            for t in range(start, frames.shape[1])
        },
        "content": content_scores(kept, videos["label"][:, start:].reshape(kept.shape[:3]),
                                  domain="day"),
    }


def side_by_side(*videos):
    """uint8 frames (N * T, 2 H, 2 len(videos) W, 3): the videos (N, T, H, W, C) (float or
    int label maps) next to each other, frame by frame, enlarged twice."""
    rows = [visualize.to_uint8(visualize.as_rgb(v.reshape((-1, *v.shape[2:])))).numpy()
            for v in videos]
    return np.concatenate(rows, axis=2).repeat(2, axis=1).repeat(2, axis=2)


def write_video(out, frames):
    """`vid2vid.mp4`, or PNG frames in `frames/` without PyAV; returns what it wrote."""
    try:
        return str(visualize.write_video(out / "vid2vid.mp4", frames, fps=8))
    except ImportError as error:
        print(f"{error}; writing PNG frames instead")
        for index, frame in enumerate(frames):
            visualize.save_png(out / "frames" / f"{index:04d}.png", frame)
        return str(out / "frames")


def check_export_in_fresh_process(model, video, expected, directory):
    """Exports; a fresh process runs the one-step signature on every window of `video`'s
    label frames, fed the frames of `expected` (`generate`'s video) before it; returns the
    largest difference from `expected`."""
    model.export(directory / "saved_model", verbose=False)
    outputs = served_in_fresh_process(directory / "saved_model", {
        "label": video["label"], "instance": video["instance"], "video": expected}, f"""
        n = {model.n_frames_G}
        frames = [serve["serving_default"](
            label=x["label"][None, t - n + 1 : t + 1],
            instance=x["instance"][None, t - n + 1 : t + 1],
            prev_images=x["video"][None, t - n + 1 : t])["image"][0]
            for t in range(n - 1, x["label"].shape[0])]
        outputs = {{"frames": tf.stack(frames)}}
    """, directory)
    return float(np.max(np.abs(outputs["frames"] - expected[model.n_frames_G - 1:])))


class Clock:
    """Wall seconds of the stages of a run: `lap(name)` records the seconds since the last
    lap under `name` and returns them; `laps` has them all and their "total"."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.laps = {}

    def lap(self, name):
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 1)
        self.laps["total"] = round(now - self.start, 1)
        self.last = now
        return self.laps[name]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="vid2vid_synthetic", help="output folder")
    parser.add_argument("--single-image-model", choices=("pix2pixhd", "spade"),
                        default="pix2pixhd")
    parser.add_argument("--steps", type=int, default=120,
                        help="the single-image model's training steps (batches of frames)")
    parser.add_argument("--batch-size", type=int, default=8, help="frames per step of it")
    parser.add_argument("--clips", type=int, default=160,
                        help="vid2vid training steps (one clip each)")
    parser.add_argument("--videos", type=int, default=4, help="held-out videos")
    parser.add_argument("--frames", type=int, default=12, help="frames per held-out video")
    args, out = parse_run_options(parser)
    clock = Clock()
    report = {"single_image_model": args.single_image_model,
              "mixed_precision": args.mixed_precision, "load_average_at_start": os.getloadavg()}

    # 1. The single-image model.
    single, training = single_image_model(args.single_image_model, args.steps, args.batch_size,
                                           args.jit)
    report["single_image_training"] = {**training, "batch_size": args.batch_size}
    clock.lap("single_image_model")

    # 2. vid2vid.
    model = Vid2Vid.from_preset("synthetic", **LIGHT)
    model.compile(jit_compile=True if args.jit else "auto")
    report["jit"] = model.jit_compile
    clip_frames = model.n_frames_G - 1 + model.n_frames_total
    clips = synthetic.videos(args.clips, frames=clip_frames, batch_size=1, seed=0)
    report["vid2vid_config"] = LIGHT
    report["vid2vid_training"] = {
        **fit_timed(model, clips, args.clips, max(1, args.clips // (model.niter +
                                                                    model.niter_decay)),
                    model.training_callbacks()),
        "clip_frames": clip_frames}
    clock.lap("vid2vid")

    # 3. Held-out videos: vid2vid against the single-image model frame by frame.
    videos = held_out_videos(args.videos, args.frames)
    mask = same_instance_mask(videos["instance"], videos["flow"])
    first = model.n_frames_G - 1
    made = {"vid2vid": generated(model, single, videos)}
    report["vid2vid_seconds_per_frame"] = round(
        clock.lap("generation") / made["vid2vid"][:, first:, 0, 0, 0].size, 3)
    made["per_frame"] = per_frame(single, videos)
    made["real"] = videos["image"]
    report["held_out"] = {"videos": args.videos, "frames": args.frames,
                          "scored_frames": f"{first}..{args.frames - 1}",
                          "visible_pixels": float(mask[:, first - 1:].mean())}
    report.update({name: scores(frames, videos, mask, first) for name, frames in made.items()})
    clock.lap("scores")

    # 4. Outputs.
    report["video"] = write_video(out, side_by_side(videos["label"], made["per_frame"],
                                                    made["vid2vid"], videos["image"]))
    visualize.save_frame_strip(out / "strip.png", videos["label"][0, :STRIP_FRAMES],
                               *(made[key][0, :STRIP_FRAMES]
                                 for key in ("per_frame", "vid2vid", "real")))
    model.save_to_preset(out / "preset", metadata={"trained_on": "synthetic videos"})
    single.save_to_preset(out / "single_image_preset",
                          metadata={"trained_on": "frames of the synthetic videos"})
    clock.lap("outputs")
    video = {key: videos[key][0] for key in ("label", "instance")}
    report["saved_model_max_abs_difference"] = check_export_in_fresh_process(
        model, video, made["vid2vid"][0], out)
    clock.lap("export_and_serving")
    report["seconds"] = clock.laps
    report["load_average_at_end"] = os.getloadavg()
    (out / "metrics.json").write_text(json.dumps(report, indent=2))

    training = report["single_image_training"], report["vid2vid_training"]
    print(f"{args.single_image_model}: {training[0]['steps']} steps of {args.batch_size} frames "
          f"in {training[0]['seconds']:.0f} s; vid2vid: {training[1]['steps']} clips of "
          f"{clip_frames} frames in {training[1]['seconds']:.0f} s.")
    print(f"Held-out videos, frames {first}..{args.frames - 1}: warping error against the exact "
          f"flow on the visible pixels ({report['held_out']['visible_pixels']:.1%}) and on "
          "every pixel; content kept (day oracle):")
    for name in made:
        result = report[name]
        print(f"  {name:10s} {result['warping_error']:.4f}  "
              f"{result['warping_error_all_pixels']:.4f}  pixel accuracy "
              f"{result['content']['pixel_accuracy']:.3f}, mean IoU "
              f"{result['content']['mean_iou']:.3f}")
    print(f"SavedModel's one-step signature in a fresh process: max |difference| "
          f"{report['saved_model_max_abs_difference']:.2e}. {report['seconds']['total']:.0f} s "
          f"in all. Outputs in {out}/.")


if __name__ == "__main__":
    main()

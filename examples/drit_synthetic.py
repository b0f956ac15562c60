"""DRIT++ on the synthetic unpaired domains (day <-> night scenes), on a CPU in a few minutes.

    python examples/drit_synthetic.py [--out drit_synthetic] [--steps 300] [--quick]

1. `DRIT.from_preset("synthetic")`: width 16, 8-d attributes (the VAE attribute encoder and
   the generator that concatenates the attribute), two image-discriminator scales, 64x64
   images of `keras_i2i.data.synthetic.unpaired` (domain a: day renderings, b: night
   renderings of other scenes). A step is the reference's rhythm of 3 iterations (the
   content discriminator alone twice, then everything) on 6 images per domain.
2. Trains two models from the same initialization on the same batches: DRIT++ with its
   mode-seeking loss (the preset) and DRIT without it (`mode_seeking=False`).
3. Before and after training, on held-out scenes, day -> night (a2b) and night -> day (b2a):
   - diversity: the mean pairwise L1 distance between one input's translations under
     `--attributes` random attributes (`keras_i2i.metrics.diversity`), averaged over inputs;
   - content preservation: the exact oracle segmenter of the target domain's renderings
     (`synthetic.segment`) on one random-attribute translation per input, against the
     source scene's label map: pixel accuracy and mean IoU. For scale, `metrics.json` also
     scores the untranslated inputs (`identity`) and the target domain's own renderings of
     the same scenes (`ideal`).
4. Writes into `--out`: `attributes_a2b.png`, `attributes_b2a.png` (a row per held-out input:
   the input, its translations under random attributes, an example of the target domain and
   the translation with the example's attribute) of each model, `metrics.json`, and the
   mode-seeking model's `preset/` and `saved_model/`, which a fresh process serves
   (random-attribute sampling, example-guided translation).
5. One XLA-compiled step and one mixed-precision (`mixed_float16`) step of a tiny DRIT
   (width 4, 32x32, one iteration per step).

Training runs as a `tf.function` graph: on the 2-core CPU this preset's step took 7 s
eagerly, 0.26 s in a graph that takes about 40 s to build, and 0.37 s with XLA, which takes
about 100 s to compile, so for a few hundred steps the plain graph is the fastest.
`--quick` is a smoke run: 3 steps per model, eagerly.
"""

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_i2i import visualize  # noqa: E402
from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.models.drit import DRIT  # noqa: E402

from common import (  # noqa: E402
    content_scores,
    fit_timed,
    held_out_scenes,
    served_in_fresh_process,
    translation_grid,
    translation_scores,
)

TARGET_RENDERING = {"b": "night", "a": "day"}
DIRECTIONS = {"a2b": ("a", "b"), "b2a": ("b", "a")}


def evaluate(model, scenes, attributes):
    """Per direction, the diversity of `attributes` random-attribute translations of each
    held-out input and the oracle's scores of the first against the inputs' labels."""
    inputs, labels = scenes["images"], scenes["labels"]
    return {direction: translation_scores(
        model.translate(inputs[source], target, num_attributes=attributes, seed=123), labels,
        TARGET_RENDERING[target]) for direction, (source, target) in DIRECTIONS.items()}


def save_grids(model, scenes, attributes, out, suffix=""):
    """`attributes_<direction><suffix>.png` of six held-out inputs, the examples the target
    domain's renderings of other scenes."""
    for direction, (source, target) in DIRECTIONS.items():
        inputs, examples = scenes["images"][source][:6], scenes["images"][target][-6:]
        grid = translation_grid(
            inputs, model.translate(inputs, target, num_attributes=attributes, seed=7),
            examples, model.translate(inputs, target, attribute_images=examples), "attribute")
        visualize.save_png(out / f"attributes_{direction}{suffix}.png", grid)


def check_export_in_fresh_process(model, scenes, directory):
    """Exports; a fresh Python process translates held-out inputs with the attributes of
    examples (both directions) and samples random-attribute translations. Returns the
    largest difference of the example-guided translations from this process's."""
    model.export(directory / "saved_model", verbose=False)
    day, night = scenes["images"]["a"][:4], scenes["images"]["b"][-4:]
    outputs = served_in_fresh_process(directory / "saved_model", {"day": day, "night": night}, """
        night_attribute = serve["encode_attribute_b"](image=x["night"])["attribute"]
        day_attribute = serve["encode_attribute_a"](image=x["day"])["attribute"]
        outputs = {
            "a2b": serve["translate_a2b"](image=x["day"], attribute=night_attribute)["image"],
            "b2a": serve["translate_b2a"](image=x["night"], attribute=day_attribute)["image"],
            "sampled": serve["serving_default"](image=x["day"])["image"]}
    """, directory)
    assert outputs["sampled"].shape == day.shape
    expected = {"a2b": model.translate(day, "b", attribute_images=night),
                "b2a": model.translate(night, "a", attribute_images=day)}
    return max(float(np.max(np.abs(outputs[d] - expected[d]))) for d in DIRECTIONS)


def tiny_step(policy, jit):
    """One training step of a tiny DRIT (width 4, 32x32, d_iter 1) under the dtype `policy`,
    XLA-compiled with `jit`, else as a graph: its wall seconds (compiling included) and
    whether every loss is finite."""
    keras.config.set_dtype_policy(policy)
    try:
        model = DRIT(width=4, dis_scale=2, content_dis_kernel_size=3, content_dis_layers=1,
                     d_iter=1, seed=0)
        model.compile(jit_compile=jit)
        rng = np.random.default_rng(0)
        batch = {key: rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
                 for key in ("image_a", "image_b")}
        start = time.perf_counter()
        losses = model.train_on_batch(batch, return_dict=True)
        return {"seconds": round(time.perf_counter() - start, 1),
                "finite": bool(all(np.isfinite(float(v)) for v in losses.values()))}
    finally:
        keras.config.set_dtype_policy("float32")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="drit_synthetic", help="output folder")
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--attributes", type=int, default=6, help="random attributes per input")
    parser.add_argument("--held-out", type=int, default=32, help="held-out scenes")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 steps per model, eagerly")
    args = parser.parse_args()
    if args.quick:
        args.steps = args.steps_per_epoch = 3
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    day, labels, night = held_out_scenes(args.held_out, 64)
    # Examples for example-guided translation come from the end of the other domain's list.
    scenes = {"images": {"a": day, "b": night}, "labels": labels}
    report = {
        "identity": {"a2b": content_scores(day, labels, "night"),
                     "b2a": content_scores(night, labels, "day")},
        "ideal": {"a2b": content_scores(night, labels, "night"),
                  "b2a": content_scores(day, labels, "day")},
    }
    keras.utils.set_random_seed(0)
    models = {"mode_seeking": DRIT.from_preset("synthetic", seed=0)}
    models["no_mode_seeking"] = DRIT.from_preset("synthetic", seed=0, mode_seeking=False)
    models["no_mode_seeking"].set_weights(models["mode_seeking"].get_weights())
    report["before"] = evaluate(models["mode_seeking"], scenes, args.attributes)

    # 2 images per iteration, 3 iterations per step (the reference's d_iter): 6 per domain
    report["batch_size"] = batch_size = models["mode_seeking"].default_batch_size
    data = synthetic.unpaired(args.steps_per_epoch * batch_size, size=64, batch_size=batch_size,
                              seed=0)
    for name, model in models.items():
        model.compile(run_eagerly=args.quick)
        report[name] = {"training": fit_timed(model, data, args.steps, args.steps_per_epoch),
                        "after": evaluate(model, scenes, args.attributes)}
        save_grids(model, scenes, args.attributes, out,
                   "" if name == "mode_seeking" else f"_{name}")

    model = models["mode_seeking"]
    model.save_to_preset(out / "preset", metadata={"trained_on": "synthetic day <-> night"})
    report["saved_model_max_abs_difference"] = check_export_in_fresh_process(model, scenes, out)
    report["tiny_steps"] = {"jit": tiny_step("float32", True),
                            "mixed_float16": tiny_step("mixed_float16", False)}
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    print_summary(report, args)


def print_summary(report, args):
    for name in ("mode_seeking", "no_mode_seeking"):
        training = report[name]["training"]
        print(f"{name}: {training['steps']} steps (batch {report['batch_size']} per domain) in "
              f"{training['seconds']:.0f} s")
    for direction in DIRECTIONS:
        print(f"{direction}: diversity (mean pairwise L1 of {args.attributes} attributes), "
              "content (oracle mean IoU against the source labels)")
        rows = {"before training": report["before"][direction],
                **{f"after, {n}": report[n]["after"][direction]
                   for n in ("mode_seeking", "no_mode_seeking")}}
        for title, scores in rows.items():
            print(f"  {title:24s} diversity {scores['diversity_mean_pairwise_l1']:.4f}, "
                  f"mean IoU {scores['content']['mean_iou']:.3f}")
        print(f"  {'for scale: identity':24s} mean IoU "
              f"{report['identity'][direction]['mean_iou']:.3f}, ideal "
              f"{report['ideal'][direction]['mean_iou']:.3f}")
    tiny = report["tiny_steps"]
    print(f"SavedModel served in a fresh process: max |difference| "
          f"{report['saved_model_max_abs_difference']:.2e}. Tiny steps: XLA "
          f"{tiny['jit']['seconds']:.0f} s (finite: {tiny['jit']['finite']}), mixed_float16 "
          f"{tiny['mixed_float16']['seconds']:.0f} s (finite: "
          f"{tiny['mixed_float16']['finite']}). {report['wall_seconds']:.0f} s in all; "
          f"outputs in {args.out}/.")


if __name__ == "__main__":
    main()

"""MUNIT on the synthetic unpaired domains (day -> night scenes), on a CPU in a few minutes.

    python examples/munit_synthetic.py [--out munit_synthetic] [--steps 600] [--jit]
    python examples/munit_synthetic.py --data ../shared/data/edges2handbags_sample --size 64

1. `MUNIT.from_preset("synthetic")`: dim 16, 8-d styles, 64x64 images of
   `keras_i2i.data.synthetic.unpaired` (domain a: day renderings, b: night renderings of
   other scenes). With `--data`, a folder of `trainA/` and `trainB/` images instead (e.g.
   edges2handbags), resized and cropped to `--size`.
2. Before and after training, on held-out day scenes translated to night:
   - diversity: the mean pairwise L1 distance between the translations of one input under
     `--styles` random styles (`keras_i2i.metrics.diversity`), averaged over the inputs;
   - content preservation (synthetic data only): the exact oracle segmenter of the night
     renderings (`synthetic.segment(..., domain="night")`) on the translations against the
     source scenes' label maps, pixel accuracy and mean IoU. For scale, `metrics.json` also
     scores the real night renderings of the same scenes (`real_night`, the ideal) and the
     untranslated day images (`identity`).
3. Writes into `--out`: `styles.png` (a row per held-out input: the input, its translations
   under random styles, then an example image of domain b and the translation in its
   style), `metrics.json`, `preset/` and `saved_model/`, which a fresh process loads and
   serves (random-style sampling and example-guided translation).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_i2i import data, visualize  # noqa: E402
from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.data.synthetic.datasets import scene_sample  # noqa: E402
from keras_i2i.metrics.diversity import mean_pairwise_distance  # noqa: E402
from keras_i2i.metrics.fidelity import label_fidelity  # noqa: E402
from keras_i2i.models.munit import MUNIT  # noqa: E402


def held_out_scenes(count, size, seed=1):
    """Day images (count, H, W, 3), their label maps, and night renderings of the same
    scenes (the ideal translations), from scenes no training batch contains."""
    day = [scene_sample(i, seed=seed, size=size, domain="day") for i in range(count)]
    night = [scene_sample(i, seed=seed, size=size, domain="night") for i in range(count)]
    return (np.stack([s["image"] for s in day]), np.stack([s["label"][..., 0] for s in day]),
            np.stack([s["image"] for s in night]))


def night_fidelity(images, labels):
    return label_fidelity(images, labels, synthetic.NUM_CLASSES,
                          lambda x: synthetic.segment(x, domain="night"))


def evaluate(model, inputs, labels, styles):
    """Diversity of `styles` random-style translations per input, and (with `labels`) the
    oracle's scores on one random-style translation per input."""
    translated = model.translate(inputs, "a2b", num_styles=styles, seed=123)
    report = {"diversity_mean_pairwise_l1": float(np.mean(
        [mean_pairwise_distance(outputs) for outputs in translated]))}
    if labels is not None:
        report["content"] = night_fidelity(translated[:, 0], labels)
    return report


def check_export_in_fresh_process(model, images, examples, directory):
    """Exports, then a fresh Python process samples a2b translations and translates with the
    examples' styles; returns the largest difference from this process's outputs."""
    model.export(directory / "saved_model", verbose=False)
    styles = keras.ops.convert_to_numpy(model.encode(examples, "b")[1])
    expected = model.translate(images, "a2b", styles=styles)
    inputs, served = directory / "serving_inputs.npz", directory / "served.npz"
    np.savez(inputs, image=images, example=examples)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        serve = tf.saved_model.load({str(directory / "saved_model")!r}).signatures
        x = np.load({str(inputs)!r})
        style = serve["encode_style_b"](image=tf.constant(x["example"]))["style"]
        guided = serve["translate_a2b"](image=tf.constant(x["image"]), style=style)["image"]
        sampled = serve["serving_default"](image=tf.constant(x["image"]))["image"]
        np.savez({str(served)!r}, guided=guided.numpy(), sampled=sampled.numpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    outputs = np.load(served)
    assert outputs["sampled"].shape == expected.shape
    difference = float(np.max(np.abs(outputs["guided"] - expected)))
    inputs.unlink()
    served.unlink()
    return difference


def style_grid(model, inputs, examples, styles):
    """Columns: the input, `styles` random-style translations, an example of domain b and the
    translation in the example's style."""
    random = model.translate(inputs, "a2b", num_styles=styles, seed=7)
    columns = {"input": inputs}
    columns.update({f"style {k}": random[:, k] for k in range(styles)})
    columns["example"] = examples
    columns["example's style"] = model.translate(inputs, "a2b", style_images=examples)
    return visualize.sample_grid(columns)


def training_data(args):
    if args.data is None:
        return synthetic.unpaired(args.steps_per_epoch * args.batch_size, size=args.size,
                                  batch_size=args.batch_size, seed=0)
    return data.unpaired(args.data, "edges2handbags", batch_size=args.batch_size, seed=0,
                         load_size=args.size, crop_size=args.size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="munit_synthetic", help="output folder")
    parser.add_argument("--data", help="a folder with trainA/ and trainB/ (default: synthetic)")
    parser.add_argument("--size", type=int, default=64, help="image size (a multiple of 16)")
    parser.add_argument("--steps", type=int, default=600, help="training steps")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--styles", type=int, default=6, help="random styles per input")
    parser.add_argument("--jit", action="store_true",
                        help='compile the step with XLA (by default Keras\'s "auto": XLA under '
                             'JAX and on GPUs)')
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_float16")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    keras.utils.set_random_seed(0)

    if args.data is None:
        inputs, labels, night = held_out_scenes(16, args.size)
        examples = night[::-1]  # night renderings of other scenes, as style examples
    else:
        test = next(iter(data.unpaired(args.data, "edges2handbags", phase="test", batch_size=8,
                                       load_size=args.size, crop_size=args.size)))
        inputs, labels, examples = test["image_a"].numpy(), None, test["image_b"].numpy()
    model = MUNIT.from_preset("synthetic", seed=0)
    report = {"data": args.data or "synthetic day -> night",
              "mixed_precision": args.mixed_precision,
              "before": evaluate(model, inputs, labels, args.styles)}
    if labels is not None:
        report["identity"] = night_fidelity(inputs, labels)
        report["real_night"] = night_fidelity(night, labels)

    dataset = training_data(args)
    model.compile(jit_compile=True if args.jit else "auto")
    report["jit"] = model.jit_compile
    start = time.perf_counter()
    history = model.fit(dataset.repeat(), epochs=max(1, args.steps // args.steps_per_epoch),
                        steps_per_epoch=args.steps_per_epoch, verbose=2)
    seconds = time.perf_counter() - start
    report["training"] = {
        "seconds": round(seconds, 1),
        "steps": int(model.steps_trained.numpy()),
        "batch_size": args.batch_size,
        "final_losses": {name: round(values[-1], 4) for name, values in history.history.items()},
    }
    report["after"] = evaluate(model, inputs, labels, args.styles)

    visualize.save_png(out / "styles.png", style_grid(model, inputs[:6], examples[:6],
                                                      args.styles))
    model.save_to_preset(out / "preset", metadata={"trained_on": report["data"]})
    report["saved_model_max_abs_difference"] = check_export_in_fresh_process(
        model, inputs[:4], examples[:4], out)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))

    print(f"Trained {report['training']['steps']} steps (batch {args.batch_size}) in "
          f"{seconds:.0f} s.")
    for key in ("before", "after"):
        line = f"{key:6s}: diversity (mean pairwise L1 of {args.styles} styles) " \
               f"{report[key]['diversity_mean_pairwise_l1']:.4f}"
        if labels is not None:
            content = report[key]["content"]
            line += (f"; content kept (oracle on a2b vs source labels): pixel accuracy "
                     f"{content['pixel_accuracy']:.3f}, mean IoU {content['mean_iou']:.3f}")
        print(line)
    if labels is not None:
        print(f"for scale: untranslated day images score pixel accuracy "
              f"{report['identity']['pixel_accuracy']:.3f}, the real night renderings "
              f"{report['real_night']['pixel_accuracy']:.3f}")
    print(f"SavedModel served in a fresh process: max |difference| "
          f"{report['saved_model_max_abs_difference']:.2e}. Outputs in {out}/.")


if __name__ == "__main__":
    main()

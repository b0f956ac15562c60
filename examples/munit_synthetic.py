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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_i2i import data, visualize  # noqa: E402
from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.models.munit import MUNIT  # noqa: E402

from common import (  # noqa: E402
    parse_run_options,
    content_scores,
    fit_timed,
    held_out_scenes,
    served_in_fresh_process,
    translation_grid,
    translation_scores,
)


def evaluate(model, inputs, labels, styles):
    """Diversity of `styles` random-style translations per input, and (with `labels`) the
    oracle's scores on one random-style translation per input."""
    return translation_scores(model.translate(inputs, "a2b", num_styles=styles, seed=123),
                              labels)


def check_export_in_fresh_process(model, images, examples, directory):
    """Exports, then a fresh Python process samples a2b translations and translates with the
    examples' styles; returns the largest difference from this process's outputs."""
    model.export(directory / "saved_model", verbose=False)
    styles = keras.ops.convert_to_numpy(model.encode(examples, "b")[1])
    expected = model.translate(images, "a2b", styles=styles)
    outputs = served_in_fresh_process(directory / "saved_model", {
        "image": images, "example": examples}, """
        style = serve["encode_style_b"](image=x["example"])["style"]
        outputs = {"guided": serve["translate_a2b"](image=x["image"], style=style)["image"],
                   "sampled": serve["serving_default"](image=x["image"])["image"]}
    """, directory)
    assert outputs["sampled"].shape == expected.shape
    return float(np.max(np.abs(outputs["guided"] - expected)))


def style_grid(model, inputs, examples, styles):
    """Columns: the input, `styles` random-style translations, an example of domain b and the
    translation in the example's style."""
    return translation_grid(inputs, model.translate(inputs, "a2b", num_styles=styles, seed=7),
                            examples, model.translate(inputs, "a2b", style_images=examples))


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
    args, out = parse_run_options(parser)

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
        report["identity"] = content_scores(inputs, labels)
        report["real_night"] = content_scores(night, labels)

    model.compile(jit_compile=True if args.jit else "auto")
    report["jit"] = model.jit_compile
    report["training"] = {**fit_timed(model, training_data(args), args.steps,
                                      args.steps_per_epoch), "batch_size": args.batch_size}
    report["after"] = evaluate(model, inputs, labels, args.styles)

    visualize.save_png(out / "styles.png", style_grid(model, inputs[:6], examples[:6],
                                                      args.styles))
    model.save_to_preset(out / "preset", metadata={"trained_on": report["data"]})
    report["saved_model_max_abs_difference"] = check_export_in_fresh_process(
        model, inputs[:4], examples[:4], out)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))

    print(f"Trained {report['training']['steps']} steps (batch {args.batch_size}) in "
          f"{report['training']['seconds']:.0f} s.")
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

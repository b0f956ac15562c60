"""INIT on the synthetic scenes with boxes (day -> night), on a CPU in a few minutes.

    python examples/init_synthetic.py [--out init_synthetic] [--steps 600] [--jit]

1. `INIT.from_preset("synthetic")`: MUNIT's synthetic widths, objects cropped to 32x32, 64x64
   images of `keras_i2i.data.synthetic.unpaired_boxes` (domain a: day renderings, b: night
   renderings of other scenes, each with the boxes of its objects).
2. Before and after training, on held-out day scenes with their boxes, translated to night:
   - content preservation: the exact oracle segmenter of night renderings on the translations
     against the source scenes' label maps (pixel accuracy, mean IoU); for scale, the real
     night renderings of the same scenes (`real_night`, the ideal) and the untranslated day
     images (`identity`);
   - per-object diversity: `--styles` translations of each scene with one background style
     and random object styles; the mean pairwise L1 distance inside each object's box
     (averaged over the objects) and outside every box (0: object styles act only in their
     boxes); and the same with random background styles and fixed object styles.
3. Writes into `--out`: `object_styles.png` (a row per held-out scene: the input with its
   boxes drawn, translations under random object styles with one background style, then
   under random background styles with the same object styles), `metrics.json`, `preset/` and
   `saved_model/`, which a fresh process loads and serves (padded boxes with a count).
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_i2i import visualize  # noqa: E402
from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.data.synthetic.datasets import boxes_sample, scene_sample  # noqa: E402
from keras_i2i.metrics.diversity import mean_pairwise_distance  # noqa: E402
from keras_i2i.models.init import INIT, instances  # noqa: E402

from common import (  # noqa: E402
    content_scores,
    fit_timed,
    parse_run_options,
    served_in_fresh_process,
)


def held_out_scenes(count, size, seed=1):
    """Day images (count, H, W, 3) with their box rows `(class, x1, y1, x2, y2)` per image,
    label maps (count, H, W) and night renderings of the same scenes, from scenes no training
    batch contains."""
    day = [boxes_sample(i, seed=seed, size=size, domain="day") for i in range(count)]
    rows = [np.concatenate([s["classes"][s["classes"] >= 0, None],
                            s["boxes"][s["classes"] >= 0]], axis=1) for s in day]
    labels = np.stack([scene_sample(i, seed=seed, size=size)["label"][..., 0]
                       for i in range(count)])
    night = np.stack([boxes_sample(i, seed=seed, size=size, domain="night")["image"]
                      for i in range(count)])
    return np.stack([s["image"] for s in day]), rows, labels, night


def styles_apart(model, images, boxes, k, vary):
    """k translations per image, (B, k, H, W, C), varying the object styles (`vary="objects"`,
    one background style) or the background style (the same object styles)."""
    rng = np.random.default_rng(5)
    count = max(len(b) for b in boxes)
    batch = len(images)
    outputs = []
    for _ in range(k):
        background = rng.standard_normal((batch, model.style_dim)).astype("float32")
        objects = rng.standard_normal((batch, count, model.style_dim)).astype("float32")
        if vary == "objects":
            background = np.random.default_rng(0).standard_normal(background.shape)
        else:
            objects = np.random.default_rng(0).standard_normal(objects.shape)
        outputs.append(model.translate(images, boxes, background_style=background,
                                       object_styles=objects))
    return np.stack(outputs, axis=1)


def region_diversity(translations, boxes):
    """Mean pairwise L1 of each scene's k translations inside each box (averaged over the
    boxes) and outside every box (averaged over the scenes)."""
    inside, outside = [], []
    size = translations.shape[2:4]
    for outputs, rows in zip(translations, boxes):
        padded, valid = instances.check_boxes([rows], *size, synthetic.NUM_CLASSES, len(rows))
        masks = instances.box_weights(padded, valid, *size, border=0.0).numpy()[0] > 0.5
        for mask in masks:
            inside.append(mean_pairwise_distance(outputs[:, mask][:, :, None]))
        background = ~masks.any(axis=0)
        outside.append(mean_pairwise_distance(outputs[:, background][:, :, None]))
    return {"inside_boxes": float(np.mean(inside)), "outside_boxes": float(np.mean(outside))}


def evaluate(model, images, boxes, labels, k):
    objects = styles_apart(model, images, boxes, k, "objects")
    background = styles_apart(model, images, boxes, k, "background")
    return {
        "content": content_scores(objects[:, 0], labels),
        "object_styles_diversity": region_diversity(objects, boxes),
        "background_style_diversity": region_diversity(background, boxes),
    }


def outlined(images, boxes):
    """The images with their boxes drawn in white."""
    images = images.copy()
    for image, rows in zip(images, boxes):
        for _, x1, y1, x2, y2 in np.asarray(rows, int):
            image[y1, x1:x2] = image[y2 - 1, x1:x2] = 1.0
            image[y1:y2, x1] = image[y1:y2, x2 - 1] = 1.0
    return images


def style_grid(model, images, boxes, k):
    objects = styles_apart(model, images, boxes, k, "objects")
    background = styles_apart(model, images, boxes, k, "background")
    columns = {"input, boxes": outlined(images, boxes)}
    columns.update({f"object styles {i}": objects[:, i] for i in range(k)})
    columns.update({f"background {i}": background[:, i] for i in range(k)})
    return visualize.sample_grid(columns)


def check_export_in_fresh_process(model, images, boxes, directory):
    """Exports, then a fresh Python process translates with given styles through the padded
    boxes and their count; returns the largest difference from this process's outputs."""
    model.export(directory / "saved_model", verbose=False)
    padded, valid = instances.check_boxes(boxes, *images.shape[1:3], model.num_classes,
                                          model.max_boxes)
    rng = np.random.default_rng(9)
    background = rng.standard_normal((len(images), model.style_dim)).astype("float32")
    objects = rng.standard_normal(valid.shape + (model.style_dim,)).astype("float32")
    expected = model.translate(images, boxes, background_style=background,
                               object_styles=objects)
    outputs = served_in_fresh_process(directory / "saved_model", {
        "image": images, "boxes": padded, "num_boxes": valid.sum(1).astype("int32"),
        "background": background, "objects": objects}, """
        common = dict(image=x["image"], boxes=x["boxes"], num_boxes=x["num_boxes"])
        outputs = {"given": serve["translate_a2b"](**common, background_style=x["background"],
                                                   object_styles=x["objects"])["image"],
                   "sampled": serve["serving_default"](**common)["image"]}
    """, directory)
    assert outputs["sampled"].shape == expected.shape
    return float(np.max(np.abs(outputs["given"] - expected)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="init_synthetic", help="output folder")
    parser.add_argument("--size", type=int, default=64, help="image size (a multiple of 16)")
    parser.add_argument("--steps", type=int, default=600, help="training steps")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--styles", type=int, default=4, help="random styles per scene")
    args, out = parse_run_options(parser)

    images, boxes, labels, night = held_out_scenes(16, args.size)
    model = INIT.from_preset("synthetic", seed=0)
    report = {"data": "synthetic day -> night, with boxes",
              "mixed_precision": args.mixed_precision,
              "identity": content_scores(images, labels),
              "real_night": content_scores(night, labels),
              "before": evaluate(model, images, boxes, labels, args.styles)}

    model.compile(jit_compile=True if args.jit else "auto")
    report["jit"] = model.jit_compile
    dataset = synthetic.unpaired_boxes(args.steps_per_epoch * args.batch_size, size=args.size,
                                       batch_size=args.batch_size, seed=0)
    report["training"] = {**fit_timed(model, dataset, args.steps, args.steps_per_epoch),
                          "batch_size": args.batch_size}
    report["after"] = evaluate(model, images, boxes, labels, args.styles)

    visualize.save_png(out / "object_styles.png",
                       style_grid(model, images[:6], boxes[:6], args.styles))
    model.save_to_preset(out / "preset", metadata={"trained_on": report["data"]})
    report["saved_model_max_abs_difference"] = check_export_in_fresh_process(
        model, images[:4], boxes[:4], out)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))

    print(f"Trained {report['training']['steps']} steps (batch {args.batch_size}) in "
          f"{report['training']['seconds']:.0f} s.")
    for key in ("before", "after"):
        result = report[key]
        objects, background = (result["object_styles_diversity"],
                               result["background_style_diversity"])
        print(f"{key:6s}: content kept (oracle on a2b vs source labels): pixel accuracy "
              f"{result['content']['pixel_accuracy']:.3f}, mean IoU "
              f"{result['content']['mean_iou']:.3f}; {args.styles} object styles: L1 apart "
              f"{objects['inside_boxes']:.4f} inside their boxes, {objects['outside_boxes']:.4f} "
              f"outside; {args.styles} background styles: {background['outside_boxes']:.4f} "
              f"outside the boxes, {background['inside_boxes']:.4f} inside")
    print(f"for scale: untranslated day images score pixel accuracy "
          f"{report['identity']['pixel_accuracy']:.3f}, the real night renderings "
          f"{report['real_night']['pixel_accuracy']:.3f}")
    print(f"SavedModel served in a fresh process: max |difference| "
          f"{report['saved_model_max_abs_difference']:.2e}. Outputs in {out}/.")


if __name__ == "__main__":
    main()

"""SPADE on the synthetic scenes, on a CPU in a few minutes.

    python examples/spade_synthetic.py [--out spade_synthetic] [--steps 200] [--jit]

1. `SPADE.from_preset("synthetic")`: 5 labels + instance edges, 64x64, ngf = ndf = 16, hinge +
   feature matching, TTUR. No VGG loss (the preset sets lambda_vgg 0): its ImageNet weights
   cannot be downloaded here.
2. Label fidelity before and after training: the exact oracle segmenter of the synthetic
   scenes (`keras_i2i.data.synthetic.segment`) on images generated from held-out label maps,
   pixel accuracy and mean IoU (`keras_i2i.metrics.fidelity`).
3. Writes into `--out`: `samples.png` (labels | generated | real, a row per held-out scene),
   `metrics.json`, `preset/` (for `SPADE.from_preset`) and `saved_model/`, which a fresh
   process loads and serves.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_i2i import visualize  # noqa: E402
from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.metrics.fidelity import label_fidelity  # noqa: E402
from keras_i2i.models.spade import SPADE  # noqa: E402

from common import parse_run_options, served_in_fresh_process  # noqa: E402


def fidelity(model, batches):
    """Oracle pixel accuracy and mean IoU of images generated from held-out label maps."""
    images = np.concatenate([model.translate(b["label"], b["instance"]) for b in batches])
    labels = np.concatenate([b["label"] for b in batches])
    return label_fidelity(images, labels, synthetic.NUM_CLASSES, synthetic.segment)


def check_export_in_fresh_process(model, batch, directory):
    """Exports, then a fresh Python process serves one batch; returns the max difference."""
    model.export(directory / "saved_model", verbose=False)
    expected = model.translate(batch["label"], batch["instance"])
    outputs = served_in_fresh_process(directory / "saved_model", {
        "label": batch["label"], "instance": batch["instance"]},
        'outputs = {"image": serve["serving_default"](**x)["image"]}', directory)
    return float(np.max(np.abs(outputs["image"] - expected)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="spade_synthetic", help="output folder")
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    parser.add_argument("--batch-size", type=int, default=8)
    args, out = parse_run_options(parser)

    held_out = [{k: v.numpy() for k, v in batch.items()}
                for batch in synthetic.scenes(64, batch_size=16, seed=1, shuffle=False)]
    model = SPADE.from_preset("synthetic")
    report = {"mixed_precision": args.mixed_precision, "before": fidelity(model, held_out)}

    epochs = 10
    data = synthetic.scenes(args.steps // epochs * args.batch_size,
                            batch_size=args.batch_size, seed=0)
    model.compile(jit_compile=True if args.jit else "auto")
    report["jit"] = model.jit_compile
    start = time.perf_counter()
    history = model.fit(data, epochs=epochs, verbose=2)
    seconds = time.perf_counter() - start
    report["training"] = {
        "seconds": round(seconds, 1),
        "steps": int(model.steps_trained.numpy()),
        "batch_size": args.batch_size,
        "final_losses": {name: round(values[-1], 4) for name, values in history.history.items()},
    }
    report["after"] = fidelity(model, held_out)

    grid = visualize.sample_grid(model.sample_columns({k: v[:6] for k, v in held_out[0].items()}))
    visualize.save_png(out / "samples.png", grid)
    model.save_to_preset(out / "preset", metadata={"trained_on": "synthetic scenes"})
    report["saved_model_max_abs_difference"] = check_export_in_fresh_process(
        model, held_out[0], out)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))

    print(f"Trained {report['training']['steps']} steps (batch {args.batch_size}) in "
          f"{seconds:.0f} s.")
    for key in ("before", "after"):
        scores = report[key]
        print(f"label fidelity {key:6s}: mean IoU {scores['mean_iou']:.3f}, "
              f"pixel accuracy {scores['pixel_accuracy']:.3f}")
    print(f"SavedModel served in a fresh process: max |difference| "
          f"{report['saved_model_max_abs_difference']:.2e}. Outputs in {out}/.")


if __name__ == "__main__":
    main()

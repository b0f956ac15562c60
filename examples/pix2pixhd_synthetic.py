"""pix2pixHD on the synthetic scenes, coarse to fine, on a CPU in a few minutes.

    python examples/pix2pixhd_synthetic.py [--out pix2pixhd_synthetic] [--no-jit]
                                           [--mixed-precision]

1. The global generator G1 (preset `synthetic_global`) trains alone on 32x32 scenes.
2. The enhanced model (preset `synthetic`: one local enhancer, 64x64) starts from it
   (`load_coarse_model`) and trains with its coarse levels fixed for the first epochs, then
   jointly; the learning rates decay linearly (`training_callbacks`).
3. Label fidelity before and after training: the exact oracle segmenter of the synthetic
   scenes (`keras_i2i.data.synthetic.segment`) on images generated from held-out label maps,
   pixel accuracy and mean IoU (`keras_i2i.metrics.fidelity`), with the instance features
   picked from k-means clusters (what synthesis does) and encoded from the real image.
4. Instance features are clustered per class; one label map is rendered with every style of
   one object (the others kept), with the differences this makes, and with several random
   style picks; the spread of the renderings inside and outside the object is reported.
5. The model is exported as a SavedModel, which a fresh process loads and runs.

No VGG loss (the presets set lambda_vgg 0): no ImageNet weights can be downloaded here.
Writes sample grids (PNG), `metrics.json` and the SavedModel into `--out`.
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
from PIL import Image  # noqa: E402

from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.data.synthetic.procedural import PALETTE  # noqa: E402
from keras_i2i.metrics.fidelity import label_fidelity  # noqa: E402
from keras_i2i.models.pix2pixhd import Pix2PixHD  # noqa: E402


def to_uint8(images):
    return (np.clip((np.asarray(images) + 1.0) * 127.5, 0, 255)).astype(np.uint8)


def colour_labels(label):
    return to_uint8(PALETTE[np.asarray(label)[..., 0]] * 2.0 - 1.0)


def save_grid(path, rows):
    """Saves rows of equally sized uint8 (H, W, 3) images as one PNG."""
    Image.fromarray(np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)).save(
        path
    )


def fidelity(model, batches, seed=0):
    """Oracle pixel accuracy and mean IoU of images generated from held-out label maps, with
    cluster-picked features (`clusters`) and features encoded from the real image
    (`encoded`)."""
    generated = {"clusters": [], "encoded": []}
    labels = []
    for batch in batches:
        index = model.choose_clusters(batch["label"], batch["instance"], seed=seed)
        generated["clusters"].append(np.asarray(model({**batch, "cluster_index": index})))
        generated["encoded"].append(np.asarray(model(batch)))
        labels.append(np.asarray(batch["label"]))
    labels = np.concatenate(labels)
    return {
        source: label_fidelity(np.concatenate(images), labels, synthetic.NUM_CLASSES,
                               synthetic.segment)
        for source, images in generated.items()
    }


def samples(model, batch, seed=0):
    """Rows of (label map, generated, real) for the first four samples of a batch."""
    index = model.choose_clusters(batch["label"], batch["instance"], seed=seed)
    fake = to_uint8(model({**batch, "cluster_index": index}))
    return [[colour_labels(batch["label"][i]), fake[i], to_uint8(batch["image"][i])]
            for i in range(min(4, len(fake)))]


def styles(model, batch, seed=0):
    """One label map rendered with every cluster of its largest object, the other instances'
    clusters kept: a row of renderings, a row of their differences from the mean rendering
    (x8, grey = none), and a row of random picks for every instance (other seeds).

    Returns the rows, the edited instance id, and the mean per-pixel standard deviation
    across the edited renderings inside that instance and outside it."""
    label, instance = np.asarray(batch["label"][:1]), np.asarray(batch["instance"][:1])
    objects, areas = np.unique(instance[instance >= 1000], return_counts=True)
    target = int(objects[np.argmax(areas)])
    counts = np.asarray(model.cluster_counts)
    inputs = {"label": label, "instance": instance}
    edited = np.concatenate([
        model({**inputs, "cluster_index": model.choose_clusters(label, instance, {target: k},
                                                                seed=seed)})
        for k in range(counts[target // 1000])
    ])
    picks = np.concatenate([
        model({**inputs, "cluster_index": model.choose_clusters(label, instance, seed=s)})
        for s in range(seed + 1, seed + 1 + len(edited))
    ])
    differences = np.clip((edited - edited.mean(0)) * 8.0, -1.0, 1.0)
    spread = edited.std(0).mean(-1)
    inside = instance[0, ..., 0] == target
    rows = [
        [colour_labels(label[0])] + list(to_uint8(edited)),
        [to_uint8(batch["image"][0])] + list(to_uint8(differences)),
        [np.full_like(colour_labels(label[0]), 255)] + list(to_uint8(picks)),
    ]
    return rows, target, {"inside": float(spread[inside].mean()),
                          "outside": float(spread[~inside].mean())}


def check_export_in_fresh_process(model, batch, directory):
    """Exports, then a fresh Python process loads the SavedModel and serves one batch."""
    model.export(directory / "saved_model", verbose=False)
    index = model.choose_clusters(batch["label"], batch["instance"], seed=0)
    expected = np.asarray(model({**batch, "cluster_index": index}))
    np.savez(directory / "serving_inputs.npz", label=batch["label"], instance=batch["instance"],
             cluster_index=index)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({str(directory / "saved_model")!r})
        x = dict(np.load({str(directory / "serving_inputs.npz")!r}))
        image = served.signatures["translate_clusters"](**x)["image"].numpy()
        np.save({str(directory / "served.npy")!r}, image)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    difference = float(np.max(np.abs(np.load(directory / "served.npy") - expected)))
    (directory / "serving_inputs.npz").unlink()
    (directory / "served.npy").unlink()
    return difference


def train(model, size, epochs, steps, batch_size, jit):
    data = synthetic.scenes(steps * batch_size, size=size, batch_size=batch_size, seed=0)
    model.compile(jit_compile=jit)
    start = time.perf_counter()
    history = model.fit(data, epochs=epochs, verbose=2, callbacks=model.training_callbacks())
    seconds = time.perf_counter() - start
    final = {name: round(values[-1], 4) for name, values in history.history.items()}
    print(f"{size}x{size}: {epochs} epochs of {steps} steps in {seconds:.0f} s; last losses "
          f"{final}")
    return {"seconds": round(seconds, 1), "epochs": epochs, "steps_per_epoch": steps,
            "final_losses": final}


def cluster(model, size, count):
    model.cluster_features(
        synthetic.scenes(count, size=size, batch_size=16, shuffle=False, drop_remainder=False)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="pix2pixhd_synthetic", help="output folder")
    parser.add_argument("--global-epochs", type=int, default=8)
    parser.add_argument("--local-epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30, help="steps per epoch")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                        help="compile the steps with XLA (Pix2PixHD's default)")
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_float16")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    held_out = {size: list(synthetic.scenes(64, size=size, batch_size=16, seed=1, shuffle=False))
                for size in (32, 64)}
    report = {"jit": args.jit, "mixed_precision": args.mixed_precision}

    # 1. The global generator alone, at half resolution.
    coarse = Pix2PixHD.from_preset(
        "synthetic_global", niter=args.global_epochs // 2,
        niter_decay=args.global_epochs - args.global_epochs // 2)
    cluster(coarse, 32, 256)
    report["global_before"] = fidelity(coarse, held_out[32])
    report["global_training"] = train(coarse, 32, args.global_epochs, args.steps,
                                      args.batch_size, args.jit)
    cluster(coarse, 32, 256)
    report["global_after"] = fidelity(coarse, held_out[32])
    save_grid(out / "global_samples.png", samples(coarse, held_out[32][0]))

    # 2. The enhanced model, from the global one.
    model = Pix2PixHD.from_preset(
        "synthetic", niter=args.local_epochs // 2,
        niter_decay=args.local_epochs - args.local_epochs // 2,
        niter_fix_global=max(1, args.local_epochs // 3))
    cluster(model, 64, 256)
    report["enhanced_untrained"] = fidelity(model, held_out[64])
    model.load_coarse_model(coarse)
    report["enhanced_training"] = train(model, 64, args.local_epochs, args.steps,
                                        args.batch_size, args.jit)

    # 3-4. Clusters, fidelity after training, samples and styles.
    cluster(model, 64, 512)
    report["cluster_counts"] = np.asarray(model.cluster_counts).tolist()
    report["enhanced_after"] = fidelity(model, held_out[64])
    save_grid(out / "samples.png", samples(model, held_out[64][0]))
    rows, target, spread = styles(model, held_out[64][0])
    save_grid(out / "styles.png", rows)
    report["styled_instance"] = target
    report["style_spread"] = spread

    # 5. SavedModel, served in a fresh process.
    report["saved_model_max_abs_difference"] = check_export_in_fresh_process(
        model, held_out[64][0], out)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    for key in ("global_before", "global_after", "enhanced_untrained", "enhanced_after"):
        print(f"{key:20s} " + "  ".join(
            f"{source}: mIoU {scores['mean_iou']:.3f} accuracy {scores['pixel_accuracy']:.3f}"
            for source, scores in report[key].items()))
    print(f"SavedModel served in a fresh process: max abs difference "
          f"{report['saved_model_max_abs_difference']:.2e}")
    print(f"styles of instance {target}: per-pixel spread {spread['inside']:.3f} inside it, "
          f"{spread['outside']:.3f} outside")
    print(f"wrote {out}/samples.png, styles.png, metrics.json")


if __name__ == "__main__":
    main()

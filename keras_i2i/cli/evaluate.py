"""`keras-i2i evaluate`: runs a model over a dataset split and scores it in one pass, writing
`metrics.json` and `index.html` (a table of the figures and a grid of samples) to `--out`.

The split streams through the model `--batch-size` samples at a time; real and generated
images feed running Inception statistics (`FeatureStatistics`), so no image set is held
(the features are kept for KID: 8 KB an image; label fidelity sums confusion matrices).

Which figures a model gets:

    model                         FID  KID  diversity (K styles an input)      label fidelity
    SPADE                         x    x    with use_vae: --samples-per-input  x
    pix2pixHD                     x    x    with instance_feat: K cluster seeds x (label input)
    MUNIT (a2b), DRIT (a -> b)    x    x    --samples-per-input styles           -
    MDMM, INIT, vid2vid           not yet: a one-line error says so

- FID: with `--fid-weights` (pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` or its
  `convert_fid_inception` file) the network, resizing and 8-bit quantization published FIDs
  use; without, `keras.applications` InceptionV3 ImageNet weights (downloaded once), labelled
  "not comparable to papers". `--inception-weights random` (random weights at 75x75 input) is
  for tests and smoke runs only: its figures mean nothing.
- `--reference-stats FILE.npz`: the real images' mean and covariance, written on the first
  run and read (instead of computing the real features) on later ones.
- KID: with `--kid-subset-size N`, an error when fewer than N images (real or generated)
  were scored; without it, subsets of 1000 when there are that many, else KID is left out
  with the reason in metrics.json. Needs the real features: not with a cached
  `--reference-stats`.
- Diversity: mean pairwise L1 over the K outputs of each input, and LPIPS with
  `--lpips-weights` (a `convert_lpips` file; `random`: random weights, for tests).
- Label fidelity: pixel accuracy and mean IoU of a segmenter's labels of the generated
  images against the input label maps, and of the real images (the segmenter's ceiling).
  The segmenter: the synthetic scenes' exact oracle (`keras_i2i.data.synthetic.segment`) on
  synthetic data, or `--segmenter DIR`, a SavedModel whose `serving_default` takes images
  (B, H, W, 3), float32 in [-1, 1] or uint8 in [0, 255] (by its input's dtype), and returns
  (first output) logits (B, H, W, C) or class ids (B, H, W).
"""

import json
import os
import pathlib
import shutil
import tempfile

import keras
import numpy as np

from keras_i2i import data as data_lib
from keras_i2i import metrics, visualize
from keras_i2i.cli import commands, train
from keras_i2i.cli.generate import index_page, split
from keras_i2i.data import io
from keras_i2i.models import registry

# Model class -> (batch key of its input, batch key of the real images it imitates).
_KEYS = {"SPADE": ("label", "image"), "Pix2PixHD": ("label", "image"),
         "MUNIT": ("image_a", "image_b"), "DRIT": ("image_a", "image_b")}
_KID_SUBSETS = 100
_DEFAULT_KID_SUBSET = 1000
_RANDOM_INCEPTION_SIZE = 75
# Preprocess modes that leave the files' sizes as they are (up to a common scale).
_SIZE_KEEPING = ("none", "scale_width", "scale_shortside")


def evaluate(args):
    _check_options(args)
    model, dataset = commands.load_model(args)
    name = type(model).__name__
    if name not in _KEYS:
        raise ValueError(f"evaluate scores {', '.join(_KEYS)} models; {name} not yet.")
    segmenter = _segmenter(args, model, dataset)
    batches = _batches(args, model)
    features = _inception(args)
    lpips = _lpips(args)
    scores = _score(model, batches, features, lpips, segmenter, args)
    _write(pathlib.Path(args.out), scores, args)


# ------------------------------------------------------------------ inputs


def _check_options(args):
    """ValueError for options that cannot work, before anything is built."""
    subset = args.kid_subset_size
    if subset is not None and args.how_many is not None and args.how_many < subset:
        raise ValueError(f"--kid-subset-size {subset}: KID needs at least {subset} images, "
                         f"--how-many gives {args.how_many}.")
    if args.segmenter is not None and not os.path.isdir(args.segmenter):
        raise ValueError(f"--segmenter {args.segmenter}: no such SavedModel folder.")
    if args.fid_weights is not None and not os.path.isfile(args.fid_weights):
        raise ValueError(f"--fid-weights {args.fid_weights}: no such file (pytorch-fid's "
                         "pt_inception-2015-12-05-6726825d.pth, or convert_fid_inception's "
                         ".weights.h5).")


def _batches(args, model):
    """The split as batches of `--batch-size`, at most `--how-many` samples."""
    spec = registry.get_model(args.model)
    if args.data == "synthetic":
        return train.synthetic_dataset(spec)(
            args.how_many or 64, size=args.size, batch_size=args.batch_size, seed=args.seed,
            shuffle=False, drop_remainder=False)
    samples, settings = split(args, model, args.batch_size)
    if settings.preprocess in _SIZE_KEEPING:
        _check_one_size(pathlib.Path(args.data), args.phase)
    return samples if args.how_many is None else samples.unbatch().take(args.how_many).batch(
        args.batch_size)


def _check_one_size(root, phase):
    """ValueError naming the first image file of the split's folders (`<phase>*/`) whose
    size is not the first file's: the scores compare images of one size."""
    from PIL import Image

    expected = None
    for folder in sorted(path for path in root.glob(f"{phase}*") if path.is_dir()):
        for file in io.list_files(str(folder)):
            with Image.open(file) as image:
                size = image.size
            if expected is None:
                expected = (file, size)
            elif size != expected[1]:
                raise ValueError(
                    f"{file}: {size[0]}x{size[1]} pixels, expected {expected[1][0]}x"
                    f"{expected[1][1]} (as {expected[0]}): evaluate scores images of one size "
                    "(resize the files, or choose a --preprocess that crops).")


def _segmenter(args, model, dataset):
    """images (B, H, W, 3) in [-1, 1] -> ids (B, H, W), or None: no label fidelity."""
    if getattr(model, "label_nc", 0) == 0:
        if args.segmenter is not None:
            raise ValueError(f"--segmenter: {type(model).__name__} takes no label maps.")
        return None
    if args.segmenter is None:
        synthetic = args.data == "synthetic" or (args.dataset or dataset) == "synthetic"
        return data_lib.synthetic.segment if synthetic else None
    return _saved_model_segmenter(args.segmenter)


def _saved_model_segmenter(folder):
    import tensorflow as tf

    function = tf.saved_model.load(folder).signatures.get("serving_default")
    if function is None:
        raise ValueError(f"--segmenter {folder}: the SavedModel has no serving_default.")
    (argument, spec), = function.structured_input_signature[1].items()

    def segment(images):
        if spec.dtype == tf.uint8:
            images = visualize.to_uint8(images)
        output = next(iter(function(**{argument: tf.cast(images, spec.dtype)}).values()))
        return np.asarray(tf.argmax(output, -1) if output.shape.rank == 4 else output)

    return segment


def _inception(args):
    """`(features callable, its description for metrics.json)`."""
    if args.fid_weights is not None:
        return metrics.FIDInceptionFeatures(args.fid_weights, args.batch_size), {
            "network": "FID Inception (pytorch-fid, 2015-12-05 graph)",
            "weights": str(args.fid_weights), "input": "bilinear resize to 299, 8-bit quantized",
            "comparable_to_papers": True}
    random = args.inception_weights == "random"
    size = _RANDOM_INCEPTION_SIZE if random else 299
    network = metrics.KerasInceptionFeatures(None if random else "imagenet", size,
                                             args.batch_size)
    return network, {
        "network": "keras.applications InceptionV3",
        "weights": "random (tests only: meaningless figures)" if random else "imagenet",
        "input": f"bilinear resize to {size}, not quantized", "comparable_to_papers": False}


def _lpips(args):
    if args.lpips_weights is None:
        return None
    weights = None if args.lpips_weights == "random" else args.lpips_weights
    return metrics.LPIPS(args.lpips_net, weights)


# ------------------------------------------------------------------ scoring


def _outputs(model, batch, styles, seed):
    """The model's translations of `batch`: float (B, K, H, W, 3); K = `styles` for a
    multimodal model, else 1."""
    name = type(model).__name__
    if name in ("MUNIT", "DRIT"):
        count = "num_styles" if name == "MUNIT" else "num_attributes"
        target = {"direction": "a2b"} if name == "MUNIT" else {"target_domain": "b"}
        return model.translate(batch["image_a"], **target, **{count: styles}, seed=seed)
    source = batch["label"] if "label" in batch else batch["input"]
    instances = {"instances": batch["instance"]} if "instance" in batch else {}
    if name == "SPADE" and model.use_vae:
        return model.translate(source, **instances, num_styles=styles, seed=seed)
    if name == "Pix2PixHD" and model.instance_feat:
        return np.stack([model.translate(source, **instances, seed=seed + k)
                         for k in range(styles)], axis=1)
    return model.translate(source, **instances)[:, None]


def _score(model, batches, features, lpips, segmenter, args):
    """Streams the batches; returns the scores and the grid's rows."""
    network, inception = features
    source_key, real_key = _KEYS[type(model).__name__]
    cached = args.reference_stats is not None and os.path.isfile(args.reference_stats)
    generated = metrics.FeatureStatistics(keep_features=True)
    real = None if cached else metrics.FeatureStatistics(keep_features=True)
    fidelity = {"images": 0, "generated": 0, "real": 0}  # counts and confusion matrices
    l1, perceptual, rows = [], [], []
    progress = keras.utils.Progbar(args.how_many, unit_name="image")
    for index, batch in enumerate(batches):
        batch = {key: np.asarray(value) for key, value in batch.items()}
        outputs = _outputs(model, batch, args.samples_per_input, args.seed + index)
        generated.update(network(outputs[:, 0]))
        if real is not None:
            real.update(network(batch[real_key]))
        if outputs.shape[1] > 1:
            l1 += [metrics.mean_pairwise_distance(images) for images in outputs]
            if lpips is not None:
                perceptual += [metrics.mean_pairwise_lpips(images, lpips) for images in outputs]
        if segmenter is not None:
            classes = getattr(model, "num_classes", model.label_nc)
            for which, images in (("generated", outputs[:, 0]), ("real", batch[real_key])):
                fidelity[which] += metrics.confusion_matrix(batch["label"][..., 0],
                                                            segmenter(images), classes)
            fidelity["images"] += len(outputs)
        source = batch[source_key] if source_key in batch else batch["input"]  # RGB input
        rows += [(source[i], outputs[i], batch[real_key][i])
                 for i in range(len(outputs)) if len(rows) < args.grid_rows]
        progress.add(len(outputs))
    if generated.count < 2:
        raise ValueError(f"--data {args.data}: {generated.count} {args.phase} samples; FID "
                         "needs at least 2.")
    figures = {**_fid(generated, real, args, inception), **_kid(generated, real, args),
               **_diversity(l1, perceptual, args, lpips),
               **_label_fidelity(fidelity, segmenter, args)}
    return {"figures": figures, "rows": rows}


def _fid(generated, real, args, inception):
    if real is None:
        mu, sigma = metrics.load_statistics(args.reference_stats)
        source = f"cached in {args.reference_stats}"
    else:
        mu, sigma = real.mu, real.sigma
        if args.reference_stats is not None:
            metrics.save_statistics(args.reference_stats, mu, sigma)
        source = f"{real.count} real images" + (
            f" (written to {args.reference_stats})" if args.reference_stats else "")
    title = "FID" if inception["comparable_to_papers"] else (
        "FID (Keras ImageNet Inception; not comparable to papers)")
    value = metrics.frechet_distance_from_statistics(generated.mu, generated.sigma, mu, sigma)
    return {"fid": {"title": title, "value": value, "unit": "squared feature distance",
                    "lower_is_better": True, "inception": inception,
                    "generated_images": generated.count, "real_statistics": source}}


def _kid(generated, real, args):
    size = args.kid_subset_size or _DEFAULT_KID_SUBSET
    if real is None:
        if args.kid_subset_size is not None:
            raise ValueError(f"--kid-subset-size: KID needs the real images' features, which "
                             f"the cached --reference-stats {args.reference_stats} lacks "
                             "(delete it to recompute).")
        return {"kid": {"skipped": "the real statistics were read from --reference-stats "
                                   "(KID needs the real features)"}}
    fewest = min(generated.count, real.count)
    if fewest < size:
        if args.kid_subset_size is not None:
            raise ValueError(f"--kid-subset-size {size}: KID needs at least {size} generated "
                             f"and real images, got {generated.count} generated and "
                             f"{real.count} real.")
        return {"kid": {"skipped": f"{fewest} images, fewer than the default subset size "
                                   f"{size} (pass --kid-subset-size)"}}
    mean, std = metrics.kernel_inception_distance(generated.features, real.features,
                                                  _KID_SUBSETS, size, args.seed)
    return {"kid": {"title": "KID", "value": mean, "std": std, "unit": "MMD^2 (cubic kernel)",
                    "lower_is_better": True, "subset_size": size, "subsets": _KID_SUBSETS}}


def _diversity(l1, perceptual, args, lpips):
    if not l1:
        return {}
    common = {"samples_per_input": args.samples_per_input, "inputs": len(l1),
              "higher_is_better": True}
    figures = {"diversity_l1": {"title": "Diversity (mean pairwise L1)",
                                "value": float(np.mean(l1)), "unit": "[-1, 1] pixel units",
                                **common}}
    if lpips is not None:
        figures["diversity_lpips"] = {
            "title": "Diversity (mean pairwise LPIPS)", "value": float(np.mean(perceptual)),
            "unit": "LPIPS", "net": args.lpips_net, "weights": args.lpips_weights, **common}
    return figures


def _label_fidelity(fidelity, segmenter, args):
    if segmenter is None:
        return {}
    return {f"label_fidelity_{which}": {
        "title": f"Label fidelity ({which} images)", **metrics.fidelity_scores(fidelity[which]),
        "unit": "fraction", "higher_is_better": True, "images": fidelity["images"],
        "segmenter": args.segmenter or "synthetic oracle (keras_i2i.data.synthetic.segment)"}
        for which in ("generated", "real")}


# ------------------------------------------------------------------ writing


def _write(out, scores, args):
    """Writes metrics.json, index.html and samples/ into a fresh folder beside `out`, then
    moves them in: a failed run leaves an earlier run's files whole."""
    out.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".evaluate-", dir=out))
    try:
        titles, files = _write_samples(staging, scores["rows"])
        record = {"model": args.model, "preset": args.preset, "data": args.data,
                  "phase": args.phase, "figures": scores["figures"]}
        (staging / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
        (staging / "index.html").write_text(_report(record, titles, files))
        for name in ("samples", "index.html", "metrics.json"):
            if (out / name).is_dir():
                shutil.rmtree(out / name)
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"{_summary(scores['figures'])}\nWritten to {out / 'metrics.json'} and "
          f"{out / 'index.html'}.")


def _write_samples(folder, rows):
    """PNGs of the grid's rows (input | K outputs | real) -> (column titles, rows of files)."""
    files = []
    for index, (source, outputs, real) in enumerate(rows):
        cells = [("input", source), *((f"output {k}", image) for k, image in
                                      enumerate(outputs)), ("real", real)]
        row = []
        for title, image in cells:
            file = f"samples/{index:05d}_{title.replace(' ', '')}.png"
            visualize.save_png(folder / file, image)
            row.append(file)
        files.append(row)
    titles = ["input", *(f"output {k}" for k in range(len(rows[0][1]))), "real"] if rows else []
    return titles, files


def _report(record, titles, files):
    """index.html: the figures' table above `generate`'s page of samples."""
    import html

    table = "\n".join(
        f"<tr><td>{html.escape(figure.get('title', key))}</td><td>"
        + html.escape(_value_text(figure)) + "</td></tr>"
        for key, figure in record["figures"].items())
    page = index_page(f"{record['model']}, {record['preset']}: {record['phase']} split of "
                       f"{record['data']}", titles, files)
    return page.replace("<table>", f"<table>\n<tr><th>figure</th><th>value</th></tr>\n"
                                   f"{table}\n</table>\n<table>", 1)


def _value_text(figure):
    if "skipped" in figure:
        return f"skipped: {figure['skipped']}"
    if "value" in figure:
        std = f" ± {figure['std']:.4g}" if "std" in figure else ""
        return f"{figure['value']:.4g}{std}"
    return (f"pixel accuracy {figure['pixel_accuracy']:.4f}, "
            f"mean IoU {figure['mean_iou']:.4f}")


def _summary(figures):
    return "\n".join(f"{figure.get('title', key)}: {_value_text(figure)}"
                     for key, figure in figures.items())

"""`keras-i2i evaluate`: runs a model over a dataset split and scores it in one pass, writing
`metrics.json` and `index.html` (a table of the figures and a grid of samples) to `--out`.

The split streams through the model `--batch-size` samples at a time; real and generated
images feed running Inception statistics (`FeatureStatistics`), so no image set is held
(the features are kept for KID: 8 KB an image; label fidelity sums confusion matrices).

Which figures a model gets (their keys in metrics.json):

    model                         FID, KID    diversity (K outputs an input)      label fidelity
    SPADE                         fid, kid    with use_vae: K styles              x
    pix2pixHD                     fid, kid    with instance_feat: K cluster seeds x (label input)
    MUNIT (a2b), DRIT (a -> b)    fid, kid    K styles (DRIT: attributes)         -
    INIT (a2b, the split's boxes) fid, kid    K styles                            -
    MDMM (into each domain d)     fid_domain_d, kid_domain_d, fid_mean, kid_mean;
                                              K attributes into each domain       -
    vid2vid (generated frames)    fid, kid    -                                   x (label input)
        and the warping error: warping_error_generated, warping_error_real (+ _visible)

K is `--samples-per-input`; the diversity figures are diversity_l1 (and diversity_lpips),
label fidelity's label_fidelity_generated and label_fidelity_real.

- FID: with `--fid-weights` (pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` or its
  `convert_fid_inception` file) the network, resizing and 8-bit quantization published FIDs
  use; without, `keras.applications` InceptionV3 ImageNet weights (downloaded once), labelled
  "not comparable to papers". `--inception-weights random` (random weights at 75x75 input) is
  for tests and smoke runs only: its figures mean nothing.
- `--reference-stats FILE.npz`: the real images' mean and covariance, written on the first
  run and read (instead of computing the real features) on later ones; MDMM's one file per
  target domain d, `FILE_domain<d>.npz`.
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
- INIT translates each a image with its own boxes (the split's annotation files), random
  styles for the background and every object; FID and KID compare the whole translated images
  with the b images, as MUNIT's.
- MDMM (as DRIT++ reports multi-domain translation): every image of the split is translated
  into each other domain d with K random attributes; FID and KID per target domain compare
  the translations into d (the first attribute of each input) with the real images of d, and
  their means over the domains are reported too; diversity is over each input's K
  translations into each domain. The split is read once, each image once, the domains
  taking turns.
- vid2vid: each clip (`--frames` frames from the start of a sequence) is generated from its
  label frames and its first n_frames_G - 1 real frames (the reference's test with
  `--use_real_img`); FID and KID compare the generated frames with the real frames at the same
  positions. Warping error (`keras_i2i.metrics.warping_error`, Lai et al. 2018): the mean
  |frame t - warp(frame t-1, flow_t)| over the pairs ending at a generated frame, of the
  generated video (its real start frames, then the generated ones) and, as a floor, of the
  real video with the same flows; with instance maps also on the pixels visible in frame t-1
  (`same_instance_mask`, "_visible"). The flow: the clip's own (the synthetic videos' exact
  flow), else with `--flow dis` OpenCV's DIS flow of the real frames (`keras_i2i.data.flow`,
  the flow vid2vid trains against here; `--flow-cache` as train's), else none: the warping
  figures say why they are skipped.
"""

import collections
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
from keras_i2i.data.unpaired import domain_folders
from keras_i2i.models import registry

# Model class -> (batch key of its input, batch key of the real images it imitates), for the
# models that translate each input into one target (`_score_images`).
_KEYS = {"SPADE": ("label", "image"), "Pix2PixHD": ("label", "image"),
         "MUNIT": ("image_a", "image_b"), "DRIT": ("image_a", "image_b"),
         "INIT": ("image_a", "image_b")}
_KID_SUBSETS = 100
_DEFAULT_KID_SUBSET = 1000
_RANDOM_INCEPTION_SIZE = 75
_SYNTHETIC_FRAMES = 8
# Preprocess modes that leave the files' sizes as they are (up to a common scale).
_SIZE_KEEPING = ("none", "scale_width", "scale_shortside")


def evaluate(args):
    _check_options(args)
    model, dataset = commands.load_model(args)
    name = type(model).__name__
    if name not in _SCORERS:
        raise ValueError(f"evaluate scores {', '.join(_SCORERS)} models; {name} not yet.")
    segmenter = _segmenter(args, model, dataset)
    batches = _batches(args, model)
    features = _inception(args)
    lpips = _lpips(args)
    scores = _SCORERS[name](model, batches, features, lpips, segmenter, args)
    _write(pathlib.Path(args.out), scores, args)


# ------------------------------------------------------------------ inputs


def _check_options(args):
    """ValueError for options that cannot work, before anything is built."""
    video = _is_video(registry.get_model(args.model).model_class)
    subset = args.kid_subset_size
    if (subset is not None and args.how_many is not None and args.how_many < subset
            and not video):  # a clip gives several frames: counted when scored
        raise ValueError(f"--kid-subset-size {subset}: KID needs at least {subset} images, "
                         f"--how-many gives {args.how_many}.")
    for flag, value in (("--frames", args.frames), ("--flow", args.flow),
                        ("--flow-cache", args.flow_cache)):
        if value is not None and not video:
            raise ValueError(f"{flag}: {args.model} scores images, not videos.")
    if args.frames is not None and args.frames < 2:
        raise ValueError(f"--frames {args.frames}: expected at least 2 frames a clip.")
    if args.flow_cache is not None and args.flow is None:
        raise ValueError(f"--flow-cache {args.flow_cache}: a cache of DIS flows, which "
                         "--flow dis computes; pass it too.")
    if args.segmenter is not None and not os.path.isdir(args.segmenter):
        raise ValueError(f"--segmenter {args.segmenter}: no such SavedModel folder.")
    if args.fid_weights is not None and not os.path.isfile(args.fid_weights):
        raise ValueError(f"--fid-weights {args.fid_weights}: no such file (pytorch-fid's "
                         "pt_inception-2015-12-05-6726825d.pth, or convert_fid_inception's "
                         ".weights.h5).")


def _is_video(model):
    """Whether a model (or model class) generates videos (trains on clips)."""
    return hasattr(model, "clip_frames")


def _batches(args, model):
    """The split as batches of `--batch-size`, at most `--how-many` samples (a video
    model's: clips of `--frames` frames)."""
    spec = registry.get_model(args.model)
    video = _is_video(model)
    if hasattr(model, "num_domains"):
        _domain_names(args, model)  # before the loader reads the folders
    if args.data == "synthetic":
        frames = {"frames": args.frames or _SYNTHETIC_FRAMES} if video else {}
        return train.synthetic_dataset(spec)(
            args.how_many or 64, size=args.size, batch_size=args.batch_size, seed=args.seed,
            shuffle=False, drop_remainder=False, **frames)
    clips = {"frames": args.frames, "at_most": args.frames is None} if video else {}
    samples, settings = split(args, model, args.batch_size, **clips)
    if settings.preprocess in _SIZE_KEEPING:
        _check_one_size(pathlib.Path(args.data), args.phase)
    return samples if args.how_many is None else samples.unbatch().take(args.how_many).batch(
        args.batch_size)


def _check_one_size(root, phase):
    """ValueError naming the first image file of the split's folders (`<phase>*/`, and their
    sequence folders) whose size is not the first file's: the scores compare images of one
    size."""
    from PIL import Image

    expected = None
    for folder in sorted(path for path in root.glob(f"{phase}*") if path.is_dir()):
        for file in io.list_files(str(folder), recursive=True):
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


def _stream(batches, args, unit):
    """`(index, batch)` over the split, each batch a dict of numpy arrays, with a progress
    bar counting `unit`s (samples)."""
    progress = keras.utils.Progbar(args.how_many, unit_name=unit)
    for index, batch in enumerate(batches):
        batch = {key: np.asarray(value) for key, value in batch.items()}
        yield index, batch
        progress.add(len(next(iter(batch.values()))))


class _Distances:
    """The Inception statistics of one FID and KID: of generated images and of the real images
    they imitate (not kept when `reference`, a `--reference-stats` file, already holds them)."""

    def __init__(self, reference):
        self.reference = reference
        cached = reference is not None and os.path.isfile(reference)
        self.generated = metrics.FeatureStatistics(keep_features=True)
        self.real = None if cached else metrics.FeatureStatistics(keep_features=True)

    def update(self, network, generated, real):
        """Adds generated (N, H, W, 3) and real (M, H, W, 3) images in [-1, 1], N, M >= 0."""
        if len(generated):
            self.generated.update(network(generated))
        if self.real is not None and len(real):
            self.real.update(network(real))

    def check(self, args, generated, real=None):
        """ValueError when fewer than 2 images (`generated`, `real`: what they are) were
        scored."""
        for statistics, what in ((self.generated, generated), (self.real, real)):
            if statistics is not None and what is not None and statistics.count < 2:
                raise ValueError(f"--data {args.data}: {statistics.count} {what}; FID needs "
                                 "at least 2.")


class _Diversity:
    """The mean pairwise distances of each input's K outputs: L1, and LPIPS with `lpips`."""

    def __init__(self, lpips):
        self.lpips, self.l1, self.perceptual = lpips, [], []

    def update(self, outputs):
        """Adds outputs (B, K, H, W, 3) in [-1, 1]: nothing when K = 1."""
        if outputs.shape[1] < 2:
            return
        self.l1 += [metrics.mean_pairwise_distance(images) for images in outputs]
        if self.lpips is not None:
            self.perceptual += [metrics.mean_pairwise_lpips(images, self.lpips)
                                for images in outputs]


def _fidelity_counts():
    """Label fidelity's running counts: images scored and confusion matrices."""
    return {"images": 0, "generated": 0, "real": 0}


def _add_fidelity(fidelity, segmenter, model, labels, generated, real):
    """Adds to `fidelity` the confusion matrices of the segmenter's labels of generated and
    real images (N, H, W, 3) against their label maps int (N, H, W, 1)."""
    classes = getattr(model, "num_classes", model.label_nc)
    for which, images in (("generated", generated), ("real", real)):
        fidelity[which] += metrics.confusion_matrix(labels[..., 0], segmenter(images), classes)
    fidelity["images"] += len(labels)


def _more_rows(rows, args, count, cells):
    """Appends `cells(i)`, a grid row of (title, image) cells, for the first samples i of a
    batch of `count` while the grid has fewer than `--grid-rows` rows."""
    rows += [cells(i) for i in range(max(0, min(count, args.grid_rows - len(rows))))]


def _outputs(model, batch, styles, seed):
    """The model's translations of `batch`: float (B, K, H, W, 3); K = `styles` for a
    multimodal model, else 1."""
    name = type(model).__name__
    if name == "INIT":
        return model.translate(batch["image_a"], _boxes(batch, "a"), "a2b", num_styles=styles,
                               seed=seed)
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


def _boxes(batch, domain):
    """Per image the (n, 5) `(class, x1, y1, x2, y2)` rows of a batch's padded boxes of
    `domain` (`boxes_<domain>` (B, N, 4), `classes_<domain>` (B, N), -1 for padding)."""
    boxes, classes = batch[f"boxes_{domain}"], batch[f"classes_{domain}"]
    return [np.concatenate([labels[labels >= 0, None], rows[labels >= 0]], axis=-1)
            for rows, labels in zip(boxes, classes)]


def _score_images(model, batches, features, lpips, segmenter, args):
    """The models that translate each input into one target (`_KEYS`): FID and KID of each
    input's first output against the real images, the diversity of its K outputs, label
    fidelity. Returns the figures and the grid's rows (input | K outputs | real)."""
    network, inception = features
    source_key, real_key = _KEYS[type(model).__name__]
    distances, diversity = _Distances(args.reference_stats), _Diversity(lpips)
    fidelity, rows = _fidelity_counts(), []
    for index, batch in _stream(batches, args, "image"):
        outputs = _outputs(model, batch, args.samples_per_input, args.seed + index)
        real = batch[real_key]
        distances.update(network, outputs[:, 0], real)
        diversity.update(outputs)
        if segmenter is not None:
            _add_fidelity(fidelity, segmenter, model, batch["label"], outputs[:, 0], real)
        source = batch[source_key] if source_key in batch else batch["input"]  # RGB input
        _more_rows(rows, args, len(outputs), lambda i: [
            ("input", source[i]), *((f"output {k}", image) for k, image in enumerate(outputs[i])),
            ("real", real[i])])
    distances.check(args, f"{args.phase} samples")
    figures = {**_distance_figures(distances, args, inception), **_diversity(diversity, args),
               **_label_fidelity(fidelity, segmenter, args)}
    return {"figures": figures, "rows": rows}


def _score_domains(model, batches, features, lpips, segmenter, args):
    """MDMM: each image translated into every other domain d with K random attributes; FID and
    KID per target domain (the translations into d, first attributes, against the real images
    of d) and their means, diversity of each input's K translations into each domain. The grid:
    each input in every domain (its own: the input)."""
    network, inception = features
    names = _domain_names(args, model)
    distances = [_Distances(_domain_reference(args.reference_stats, d))
                 for d in range(len(names))]
    diversity, rows = _Diversity(lpips), []
    for index, batch in _stream(batches, args, "image"):
        images, domains = batch["image"], batch["domain"]
        into = []  # per target domain: the images translated into it (their own: as they are)
        for d, target in enumerate(distances):
            others = domains != d
            translated = images.copy()
            if others.any():
                outputs = model.translate(images[others], target_domain=d,
                                          num_attributes=args.samples_per_input,
                                          seed=(args.seed + index) * len(names) + d)
                translated[others] = outputs[:, 0]
                diversity.update(outputs)
            target.update(network, translated[others], images[~others])
            into.append(translated)
        _more_rows(rows, args, len(images), lambda i: [
            ("input", images[i]), *((f"into {d} ({name})", into[d][i])
                                    for d, name in enumerate(names))])
    figures = {}
    for d, (name, target) in enumerate(zip(names, distances)):
        target.check(args, f"{args.phase} images translated into domain {d} ({name})",
                     f"real {args.phase} images of domain {d} ({name})")
        figures.update(_distance_figures(target, args, inception, f"_domain_{d}",
                                         f", into domain {d} ({name})"))
    figures.update(_domain_means(figures, len(names), inception))
    figures.update(_diversity(diversity, args,
                              over="each input's translations into each other domain"))
    return {"figures": figures, "rows": rows}


def _domain_names(args, model):
    """The data's domains, by index (the synthetic ones, or the split's `<phase>*` folders'
    suffixes); ValueError unless there are as many as the model's."""
    if args.data == "synthetic":
        names = list(data_lib.synthetic.DOMAINS)
    else:
        names = domain_folders(args.data, args.phase) if os.path.isdir(args.data) else []
    if len(names) != model.num_domains:
        raise ValueError(f"--data {args.data}: {len(names)} domains in the {args.phase} split "
                         f"({', '.join(names) or 'none'}), expected the model's num_domains = "
                         f"{model.num_domains}.")
    return names


def _domain_reference(path, domain):
    """`--reference-stats FILE.npz` of a target domain: `FILE_domain<d>.npz`, or None."""
    if path is None:
        return None
    path = pathlib.Path(path)
    return str(path.with_name(f"{path.stem}_domain{domain}{path.suffix}"))


def _score_video(model, batches, features, lpips, segmenter, args):
    """vid2vid: each clip generated from its labels and first n_frames_G - 1 real frames; FID
    and KID of the generated frames against the real frames at their positions, label fidelity,
    and the warping error of the generated and the real frames (see the module). The grid:
    the last frame's labels | the first and last generated frames | the real last frame."""
    network, inception = features
    batches, flow = _with_flow(batches, args)
    start = model.n_frames_G - 1  # the first generated frame
    first = _first_scored_frame(model, batches, args)
    distances, fidelity, rows = _Distances(args.reference_stats), _fidelity_counts(), []
    warping = collections.defaultdict(list)  # figure key -> [(value, weight)]
    for _, batch in _stream(batches, args, "clip"):
        generated = keras.ops.convert_to_numpy(model(batch))  # (B, T - start, H, W, 3)
        real = batch["image"]
        distances.update(network, _frames(generated), _frames(real[:, start:]))
        if segmenter is not None:
            _add_fidelity(fidelity, segmenter, model, _frames(batch["label"][:, start:]),
                          _frames(generated), _frames(real[:, start:]))
        if "skipped" not in flow:
            video = np.concatenate([real[:, :start], generated], axis=1)
            _add_warping(warping, {"generated": video, "real": real}, batch, first)
        source = batch["label"] if "label" in batch else batch["input"][..., :3]
        shown = sorted({start, real.shape[1] - 1})
        _more_rows(rows, args, len(generated), lambda i: [
            ("labels", source[i, -1]),
            *((f"frame {t}", generated[i, t - start]) for t in shown), ("real", real[i, -1])])
    distances.check(args, f"generated frames of {args.phase} clips")
    figures = {**_distance_figures(distances, args, inception),
               **_label_fidelity(fidelity, segmenter, args),
               **_warping_figures(warping, flow, first, start)}
    return {"figures": figures, "rows": rows}


def _frames(clips):
    """Clips (B, T, H, W, C) as frames (B T, H, W, C)."""
    return clips.reshape((-1, *clips.shape[2:]))


def _with_flow(batches, args):
    """`(the clips with their "flow", its description)`: the clips' own (the synthetic
    videos'), else with `--flow dis` DIS flow of the real frames; else the clips as they are
    and `{"skipped": why}`."""
    if "flow" in batches.element_spec:
        return batches, {"flow": "the clips' own (the synthetic videos' exact flow)"}
    if args.flow is None:
        return batches, {"skipped": "the clips carry no flow: pass --flow dis for OpenCV's DIS "
                                    "flow of the real frames (pip install keras-i2i[flow])"}
    try:
        batches = data_lib.with_flow(batches, cache=args.flow_cache)
    except ImportError as error:
        raise ValueError(f"--flow dis: {error}") from None
    cached = f"; cached in {args.flow_cache}" if args.flow_cache else ""
    return batches, {"flow": f"DIS optical flow of the real frames (OpenCV, "
                             f"keras_i2i.data.flow){cached}"}


def _first_scored_frame(model, batches, args):
    """The first frame t whose pair (t - 1, t) the warping error scores: the first generated
    frame, n_frames_G - 1 (the one after with no_first_img, whose video starts there);
    ValueError when the split has no real frames or the clips are too short for a pair."""
    spec = batches.element_spec
    if "image" not in spec:
        raise ValueError(f"--data {args.data}: the {args.phase} split has no image frames "
                         f"({args.phase}_B/): FID compares the generated frames with them.")
    first = model.n_frames_G - 1 + int(model.no_first_img)
    frames = spec["image"].shape[1]
    if frames is not None and frames <= first:
        raise ValueError(f"--frames: clips of {frames} frames; the model generates frames "
                         f"{model.n_frames_G - 1}.. of a clip and the warping error needs a "
                         f"pair of them: expected at least {first + 1}.")
    return first


def _add_warping(warping, videos, batch, first):
    """Adds the warping errors of `videos` (name -> (B, T, H, W, 3)) over the pairs (t - 1, t),
    t >= `first`, with the batch's flows: on every pixel (key: the name), and with instance
    maps on the pixels visible in frame t - 1 ("<name>_visible"); each with its weight (frame
    pairs, visible pixels)."""
    flows = batch["flow"][:, first - 1:]
    visible = None
    if "instance" in batch:
        visible = metrics.same_instance_mask(batch["instance"], batch["flow"])[:, first - 1:]
    for name, video in videos.items():
        frames = video[:, first - 1:]
        warping[name].append((metrics.warping_error(frames, flows), flows.shape[0] *
                              flows.shape[1]))
        if visible is not None and visible.any():
            warping[f"{name}_visible"].append((metrics.warping_error(frames, flows, visible),
                                               int(visible.sum())))


def _warping_figures(warping, flow, first, start):
    """`warping_error_<generated|real>[_visible]` from `_add_warping`'s values."""
    if "skipped" in flow:
        return {f"warping_error_{name}": dict(flow) for name in ("generated", "real")}
    what = {"generated": "generated frames", "real": "real frames, same flows: the floor"}
    figures = {}
    for key in sorted(warping, key=lambda key: (key.endswith("_visible"), key)):
        values, weights = zip(*warping[key])
        name, visible = key.removesuffix("_visible"), key.endswith("_visible")
        pairs = sum(weight for _, weight in warping[name])
        figures[f"warping_error_{key}"] = {
            "title": "Warping error" + (", visible pixels" if visible else "") + f" ({what[name]})",
            "value": float(np.average(values, weights=weights)),
            "unit": "mean |frame t - warp(frame t-1, flow)|, [-1, 1] pixel units",
            "lower_is_better": True, **flow,
            "pixels": "visible in frame t-1 (same_instance_mask of the instance maps)"
                      if visible else "all",
            "frame_pairs": f"(t - 1, t) for t >= {first} of each clip (frames before {start}: "
                           "the real frames a clip starts from)", "pairs": pairs}
    return figures


def _distance_figures(distances, args, inception, suffix="", label=""):
    """`{fid<suffix>, kid<suffix>}`, their titles with `label` (", into domain 1")."""
    return {f"fid{suffix}": _fid(distances, inception, label),
            f"kid{suffix}": _kid(distances, args, label)}


def _fid_title(inception, label=""):
    return f"FID{label}" + ("" if inception["comparable_to_papers"] else
                            " (Keras ImageNet Inception; not comparable to papers)")


def _fid(distances, inception, label=""):
    generated, real, reference = distances.generated, distances.real, distances.reference
    if real is None:
        mu, sigma = metrics.load_statistics(reference)
        source = f"cached in {reference}"
    else:
        mu, sigma = real.mu, real.sigma
        if reference is not None:
            metrics.save_statistics(reference, mu, sigma)
        source = f"{real.count} real images" + (
            f" (written to {reference})" if reference else "")
    value = metrics.frechet_distance_from_statistics(generated.mu, generated.sigma, mu, sigma)
    return {"title": _fid_title(inception, label), "value": value,
            "unit": "squared feature distance", "lower_is_better": True,
            "inception": inception, "generated_images": generated.count,
            "real_statistics": source}


def _kid(distances, args, label=""):
    generated, real, reference = distances.generated, distances.real, distances.reference
    size = args.kid_subset_size or _DEFAULT_KID_SUBSET
    if real is None:
        if args.kid_subset_size is not None:
            raise ValueError(f"--kid-subset-size: KID needs the real images' features, which "
                             f"the cached --reference-stats {reference} lacks "
                             "(delete it to recompute).")
        return {"skipped": "the real statistics were read from --reference-stats "
                           "(KID needs the real features)"}
    fewest = min(generated.count, real.count)
    if fewest < size:
        if args.kid_subset_size is not None:
            raise ValueError(f"--kid-subset-size {size}: KID{label} needs at least {size} "
                             f"generated and real images, got {generated.count} generated "
                             f"and {real.count} real.")
        return {"skipped": f"{fewest} images, fewer than the default subset size "
                           f"{size} (pass --kid-subset-size)"}
    mean, std = metrics.kernel_inception_distance(generated.features, real.features,
                                                  _KID_SUBSETS, size, args.seed)
    return {"title": f"KID{label}", "value": mean, "std": std, "unit": "MMD^2 (cubic kernel)",
            "lower_is_better": True, "subset_size": size, "subsets": _KID_SUBSETS}


def _domain_means(figures, count, inception):
    """`fid_mean`, `kid_mean`: the means of the `count` target domains' figures (skipped
    when one of them is)."""
    means = {}
    for kind, title in (("fid", _fid_title(inception, ", mean of the target domains")),
                        ("kid", "KID, mean of the target domains")):
        each = [figures[f"{kind}_domain_{d}"] for d in range(count)]
        if any("value" not in figure for figure in each):
            means[f"{kind}_mean"] = {"skipped": f"{kind.upper()} was left out for a domain "
                                                f"(see {kind}_domain_*)"}
            continue
        means[f"{kind}_mean"] = {
            "title": title, "value": float(np.mean([figure["value"] for figure in each])),
            "unit": each[0]["unit"], "lower_is_better": True, "domains": count}
    return means


def _diversity(diversity, args, **details):
    if not diversity.l1:
        return {}
    common = {"samples_per_input": args.samples_per_input, "inputs": len(diversity.l1),
              **details, "higher_is_better": True}
    figures = {"diversity_l1": {"title": "Diversity (mean pairwise L1)",
                                "value": float(np.mean(diversity.l1)),
                                "unit": "[-1, 1] pixel units", **common}}
    if diversity.lpips is not None:
        figures["diversity_lpips"] = {
            "title": "Diversity (mean pairwise LPIPS)",
            "value": float(np.mean(diversity.perceptual)), "unit": "LPIPS",
            "net": args.lpips_net, "weights": args.lpips_weights, **common}
    return figures


def _label_fidelity(fidelity, segmenter, args):
    if segmenter is None:
        return {}
    return {f"label_fidelity_{which}": {
        "title": f"Label fidelity ({which} images)", **metrics.fidelity_scores(fidelity[which]),
        "unit": "fraction", "higher_is_better": True, "images": fidelity["images"],
        "segmenter": args.segmenter or "synthetic oracle (keras_i2i.data.synthetic.segment)"}
        for which in ("generated", "real")}


# Model class -> its scoring: (model, batches, features, lpips, segmenter, args) -> {"figures",
# "rows"}.
_SCORERS = {**{name: _score_images for name in _KEYS}, "MDMM": _score_domains,
            "Vid2Vid": _score_video}


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
    """PNGs of the grid's rows (lists of (column title, image) cells, e.g. input | K outputs |
    real) -> (column titles, rows of files)."""
    files = []
    for index, cells in enumerate(rows):
        row = []
        for title, image in cells:
            name = "".join(c for c in title if c.isalnum())
            file = f"samples/{index:05d}_{name}.png"
            visualize.save_png(folder / file, image)
            row.append(file)
        files.append(row)
    titles = [title for title, _ in rows[0]] if rows else []
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

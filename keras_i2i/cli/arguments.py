"""The command line's arguments: each command's options, and each model's own options.

A model's options are its constructor arguments (`--ngf 32`, `--lambda-vgg 0`,
`--no-use-instance`), the reference's spellings of them that the model registers
(`ModelSpec.aliases`: `--lr`, `--beta1`, `--no-vgg-loss`, ...) and `--set NAME=VALUE` for any
argument. They replace the preset's values. Underscores and dashes are the same in option
names (`--lambda_vgg` = `--lambda-vgg`), as users of the reference scripts type them.

Nothing here imports TensorFlow: `--help` answers at once. Naming `--model` imports that
model (and TensorFlow) to list its options.
"""

import argparse
import ast

from keras_i2i.models import registry

STRATEGIES = ("one-device", "mirrored", "multi-worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop",
                    "scale_shortside", "scale_shortside_and_crop", "fixed", "none")


def normalize(argv):
    """`argv` with option names lower-cased and `_` written `-` (values unchanged)."""
    normalized = []
    for arg in argv:
        if arg.startswith("--"):
            name, separator, value = arg.partition("=")
            arg = name.lower().replace("_", "-") + separator + value
        normalized.append(arg)
    return normalized


def model_named(argv):
    """The value of `--model` in `argv`, or None."""
    finder = argparse.ArgumentParser(add_help=False)
    finder.add_argument("--model")
    return finder.parse_known_args(argv)[0].model


def literal(text):
    """A command-line value as Python: numbers, booleans, None, tuples, lists; else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.lower()
        if lowered in ("true", "false", "none"):
            return {"true": True, "false": False, "none": None}[lowered]
        return text


def setting(text):
    """`NAME=VALUE` -> (name, value) for `--set`."""
    name, separator, value = text.partition("=")
    if not separator or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, literal(value)


def size(text):
    """`64`, `256x512` (height x width) or `256,512` -> (height, width)."""
    parts = text.replace(",", "x").split("x")
    try:
        numbers = tuple(int(part) for part in parts)
    except ValueError:
        numbers = ()
    if len(numbers) not in (1, 2) or min(numbers, default=0) < 1:
        raise argparse.ArgumentTypeError(f"expected a size like 256 or 256x512, got {text!r}")
    return numbers * (3 - len(numbers)) if len(numbers) == 1 else numbers


def parser(model_spec=None):
    """The whole parser; `model_spec` (a `ModelSpec`) adds that model's options to `train`."""
    root = argparse.ArgumentParser(
        prog="keras-i2i",
        description="Image-to-image translation GANs for Keras: train, test, translate, export.",
        epilog="`keras-i2i COMMAND --help` for a command's options; `keras-i2i train --model "
               "NAME --help` also lists the model's own options.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _presets_command(commands)
    _train_command(commands, model_spec)
    _test_command(commands)
    _translate_command(commands)
    _export_command(commands)
    _convert_command(commands)
    _synthetic_command(commands)
    _demo_command(commands)
    _evaluate_command(commands)
    _tune_routes_command(commands)
    return root


def _presets_command(commands):
    listing = commands.add_parser("presets", help="list the models and their presets")
    listing.add_argument("--model", help="only this model")


def _model_source(parser, preset_required=True):
    parser.add_argument("--model", required=True,
                        help="the model, e.g. spade (`keras-i2i presets` lists them)")
    parser.add_argument("--preset", required=preset_required,
                        help="a built-in preset, a preset folder, or a training run's --out "
                             "folder (its preset/, or with --checkpoint one of its checkpoints)")
    parser.add_argument("--checkpoint", metavar="WHICH",
                        help="of the run folder given as --preset: latest, a step (1500) or an "
                             "epoch (epoch-3); also of a run that was stopped or killed")
    parser.add_argument("--set", dest="settings", type=setting, action="append", default=[],
                        metavar="NAME=VALUE", help="a constructor argument of the model")


def _data_options(parser, training):
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True,
                      help="dataset folder" + (", or `synthetic` for the built-in synthetic "
                                               "data" if training else ""))
    data.add_argument("--phase", default="train" if training else "test",
                      help="the split to read (train, val, test)")
    data.add_argument("--layout", help="the folder's layout, when not detected (cityscapes, "
                                       "pix2pixhd, ade20k, folders, aligned)")
    data.add_argument("--dataset", help="label conventions and preprocessing by dataset name "
                                        "(cityscapes, coco_stuff, ade20k, ...); default: the "
                                        "preset's")
    data.add_argument("--label-nc", type=int, help="number of label ids (a custom dataset)")
    data.add_argument("--contain-dontcare-label", action=argparse.BooleanOptionalAction,
                      help="unlabeled pixels form one more class")
    data.add_argument("--instance", action=argparse.BooleanOptionalAction,
                      help="read instance maps (--no-instance: none)")
    data.add_argument("--preprocess", choices=PREPROCESS_MODES, help="resize / crop mode")
    data.add_argument("--load-size", type=int, help="size the images are scaled to")
    data.add_argument("--crop-size", type=int, help="size of the crops")
    data.add_argument("--aspect-ratio", type=float, help="width / height of the crops")
    data.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                      help="a bad file stops the command (raise) or is skipped and counted")
    return data


def _train_command(commands, model_spec):
    fit = commands.add_parser(
        "train", help="train a model (run it again to resume)",
        description="Trains a model; the same command resumes from --out's newest checkpoint.")
    _model_source(fit)
    fit.add_argument("--out", required=True, help="output folder of the run")
    data = _data_options(fit, training=True)
    data.add_argument("--no-flip", dest="flip", action="store_false",
                      help="no random horizontal flips")
    data.add_argument("--serial-batches", action="store_true",
                      help="read the samples in order instead of shuffled")
    data.add_argument("--cache", action="store_true", help="keep decoded samples in memory")
    data.add_argument("--synthetic-samples", type=int, default=256, help="synthetic epoch size")
    data.add_argument("--frames", type=int,
                      help="vid2vid: frames per training clip (default: what the growing clips "
                           "reach by the last epoch, at most the shortest sequence's)")
    data.add_argument("--flow-cache", metavar="FOLDER",
                      help="vid2vid: keep the reference flow (OpenCV's DIS) of each frame pair "
                           "here, to compute it once (about H x W x 8 bytes a pair)")
    data.add_argument("--size", type=int, default=64, help="synthetic image size")

    run = fit.add_argument_group("training")
    run.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                     help="continue from --out's newest checkpoint (default)")
    run.add_argument("--epochs", type=int,
                     help="default: the model's niter + niter_decay (DRIT's n_ep) when it has "
                          "them, else 10")
    run.add_argument("--batch-size", type=int,
                     help="global batch size (default: the model's, 1; DRIT's 2 x d_iter)")
    run.add_argument("--schedule", choices=registry.SCHEDULES,
                     help="learning-rate schedule (default: the model's reference one)")
    run.add_argument("--decay-epochs", type=int,
                     help="linear schedule: epochs of decay at the end (default: half)")
    run.add_argument("--step-size", type=int, help="step schedule: steps between halvings")
    run.add_argument("--coarse-model", metavar="PRESET",
                     help="pix2pixHD: start the local enhancers' model from this trained "
                          "coarser model (a preset or run folder)")
    run.add_argument("--cluster-features", action=argparse.BooleanOptionalAction, default=True,
                     help="pix2pixHD with instance features: cluster them after training")
    run.add_argument("--strategy", choices=STRATEGIES, default="one-device",
                     help="multi-worker reads the cluster from TF_CONFIG")
    run.add_argument("--precision", choices=PRECISIONS, default="float32")
    run.add_argument("--jit", action=argparse.BooleanOptionalAction,
                     help="XLA compilation (default: the model's compile default)")
    run.add_argument("--run-eagerly", action="store_true",
                     help="run each step eagerly, op by op (for debugging; starts at once but "
                          "runs slower than a traced step)")
    run.add_argument("--seed", type=int, default=0)

    saving = fit.add_argument_group("checkpoints and logs")
    saving.add_argument("--checkpoint-every", type=int, default=500, help="steps")
    saving.add_argument("--save-every-epochs", type=int, default=1,
                        help="also write a checkpoint every this many epochs")
    saving.add_argument("--keep-checkpoints", type=int, default=2,
                        help="newest checkpoints kept (0: all)")
    saving.add_argument("--sample-every", type=int,
                        help="steps between sample grids (default: about 10 a run)")
    saving.add_argument("--log-every", type=int, default=10,
                        help="steps between rows of losses.csv and TensorBoard points")
    saving.add_argument("--samples-shown", type=int, default=4, help="rows of the sample grids")
    saving.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1)
    if model_spec is not None:
        _model_options(fit, model_spec)
    fit.set_defaults(model_options={})


def _test_command(commands):
    test = commands.add_parser(
        "test", help="run a model over a dataset split; write images and index.html",
        description="Like the reference test.py: the generated images beside their inputs "
                    "and real images, in --out/index.html.")
    _model_source(test)
    test.add_argument("--out", required=True, help="results folder")
    test.add_argument("--how-many", type=int, default=50, help="samples to run")
    _data_options(test, training=False)


def _translate_command(commands):
    apply = commands.add_parser(
        "translate", help="translate image or label files",
        description="Translates files: label maps (SPADE, pix2pixHD), images (MUNIT, DRIT, "
                    "MDMM, INIT) or label videos (vid2vid: frames and an mp4 per sequence).")
    _model_source(apply)
    apply.add_argument("inputs", nargs="+", help="files or folders of the model's first input")
    apply.add_argument("--with", dest="with_", action="append", default=[],
                       metavar="NAME=FOLDER", help="a further input (instance=inst/), paired "
                                                   "with the inputs by file name")
    apply.add_argument("--style-image", "--attribute-image", metavar="FILE_OR_FOLDER",
                       help="example-guided style: one image for every input, or a folder "
                            "with one paired by name (SPADE with VAE, MUNIT: its style; "
                            "pix2pixHD with instance features: its instances' features; DRIT, "
                            "MDMM: its attribute, an image of the target domain)")
    apply.add_argument("--num-styles", "--num-attributes", type=int,
                       help="random styles (DRIT, MDMM: attributes) per input (SPADE with VAE, "
                            "MUNIT, DRIT, MDMM)")
    apply.add_argument("--boxes", metavar="ANNOTATIONS",
                       help="INIT: the inputs' object boxes, a boxes.json or an INIT .txt "
                            "annotation file naming the images relative to its folder")
    apply.add_argument("--seed", type=int, help="seed of the random styles (pix2pixHD: of "
                                                "the instances' clusters)")
    apply.add_argument("--direction", choices=("a2b", "b2a"), help="MUNIT: the direction")
    apply.add_argument("--target-domain", type=literal,
                       help="DRIT: a or b (default b); MDMM: the domain's index")
    apply.add_argument("--dataset", help="map the label files' raw ids as this dataset's loader "
                                         "does (default: the preset's dataset)")
    video = apply.add_argument_group(
        "videos (vid2vid: each input a folder of label frames, or of sequence folders)")
    video.add_argument("--first-frames", metavar="FOLDER",
                       help="the real first frames of the sequence (or a folder with a "
                            "subfolder per sequence)")
    video.add_argument("--first-frame-model", metavar="MODEL=PRESET",
                       help="a single-image model that makes the first frames from their "
                            "labels, e.g. pix2pixhd=runs/label2city")
    video.add_argument("--fps", type=float, default=15.0,
                       help="frames per second of the mp4 written per sequence")
    apply.add_argument("--out", required=True, help="output folder")


def _evaluate_command(commands):
    score = commands.add_parser(
        "evaluate", help="run a model over a dataset split and score it (FID, KID, "
                         "diversity, label fidelity, warping error); write metrics.json and "
                         "index.html",
        description="Generates a split's outputs and scores them in one pass; which figures "
                    "a model gets: `python -m pydoc keras_i2i.cli.evaluate`.")
    _model_source(score)
    score.add_argument("--out", required=True, help="results folder")
    score.add_argument("--how-many", type=int, help="samples to score (default: the whole "
                                                    "split; synthetic: 64)")
    score.add_argument("--batch-size", type=int, default=8)
    score.add_argument("--seed", type=int, default=0, help="seed of the random styles")
    score.add_argument("--grid-rows", type=int, default=8, help="samples shown in index.html")
    fid = score.add_argument_group("FID and KID")
    fid.add_argument("--fid-weights", metavar="FILE",
                     help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (or its "
                          "convert_fid_inception .weights.h5): FIDs comparable to papers; "
                          "default: Keras's ImageNet InceptionV3 (labelled not comparable)")
    fid.add_argument("--inception-weights", choices=("imagenet", "random"), default="imagenet",
                     help=argparse.SUPPRESS)  # random: tests and smoke runs only
    fid.add_argument("--reference-stats", metavar="FILE.npz",
                     help="the real images' statistics: written once, then read")
    fid.add_argument("--kid-subset-size", type=int,
                     help="KID subset size (an error with fewer images; default 1000 when "
                          "there are that many, else no KID)")
    diverse = score.add_argument_group("diversity (multimodal models)")
    diverse.add_argument("--samples-per-input", type=int, default=4,
                         help="outputs per input (random styles) compared pairwise")
    diverse.add_argument("--lpips-weights", metavar="FILE",
                         help="convert_lpips's .weights.h5: also report LPIPS diversity")
    diverse.add_argument("--lpips-net", choices=("alex", "vgg", "squeeze"), default="alex")
    score.add_argument("--segmenter", metavar="SAVEDMODEL",
                       help="label fidelity's segmenter: serving_default takes images (B,H,W,3) "
                            "float32 in [-1, 1] or uint8, returns logits (B,H,W,C) or ids "
                            "(B,H,W); default on synthetic data: the exact oracle")
    video = score.add_argument_group("videos (vid2vid)")
    video.add_argument("--frames", type=int,
                       help="frames per clip, the first of each sequence (default: as many as "
                            "the shortest sequence has; synthetic: 8)")
    video.add_argument("--flow", choices=("dis",),
                       help="the warping error's flow for clips that carry none (the synthetic "
                            "videos carry their exact flow): dis, OpenCV's DIS flow of the real "
                            "frames (pip install keras-i2i[flow]); without, no warping error")
    video.add_argument("--flow-cache", metavar="FOLDER",
                       help="with --flow dis: keep each frame pair's flow here (train "
                            "--flow-cache's folder: the pairs it computed are reused)")
    data = _data_options(score, training=False)
    data.add_argument("--size", type=int, default=64, help="synthetic image size")


def _export_command(commands):
    serve = commands.add_parser("export", help="export a SavedModel for TF Serving, or ONNX "
                                               "models")
    _model_source(serve)
    serve.add_argument("--out", required=True,
                       help="SavedModel folder, or the folder of the .onnx files")
    serve.add_argument("--format", choices=("savedmodel", "onnx"), default="savedmodel",
                       help="onnx: one <endpoint>.onnx per endpoint that draws no random "
                            "styles (pip install keras-i2i[onnx])")
    serve.add_argument("--endpoint", action="append", metavar="NAME",
                       help="onnx: only this endpoint (repeatable)")
    serve.add_argument("--opset", type=int, help="onnx: the ONNX opset (default 18)")


def _convert_command(commands):
    port = commands.add_parser("convert", help="PyTorch checkpoint -> preset folder")
    port.add_argument("--model", required=True)
    port.add_argument("--checkpoint", required=True,
                      help="the reference checkpoint (file or folder, as the model's converter "
                           "reads it)")
    port.add_argument("--preset", help="the built-in preset the checkpoint was trained with")
    port.add_argument("--out", required=True, help="preset folder to write")


def _synthetic_command(commands):
    write = commands.add_parser(
        "synthetic", help="write the built-in synthetic data as files, in a reference layout",
        description="Writes synthetic scenes for trying train, test and translate on folders: "
                    "paired (pix2pixHD layout: <phase>_label/, _inst/, _img/, for SPADE and "
                    "pix2pixHD), unpaired (<phase>A/, <phase>B/: day and night, for MUNIT, "
                    "DRIT), unpaired_boxes (the same with each folder's boxes.json, for "
                    "INIT) or videos (vid2vid layout: <phase>_A/<sequence>/ label frames, "
                    "_inst/, _B/ image frames).")
    write.add_argument("--kind", choices=("paired", "unpaired", "unpaired_boxes", "videos"),
                       default="paired")
    write.add_argument("--out", required=True, help="dataset folder")
    write.add_argument("--phase", action="append", help="splits to write (default: train, test)")
    write.add_argument("--samples", type=int, default=16,
                       help="samples per split (videos: sequences)")
    write.add_argument("--frames", type=int, default=8, help="videos: frames per sequence")
    write.add_argument("--size", type=int, default=64, help="image size")
    write.add_argument("--seed", type=int, default=0)


def _demo_command(commands):
    demo = commands.add_parser(
        "demo", help="a local web app: paint a label map, see the generated image",
        description="Serves a Gradio app (pip install keras-i2i[demo]) where a label map is "
                    "painted or uploaded and the model's image shown, with its styles. "
                    "Without --preset: a small model of the synthetic scenes, trained once "
                    "(a few CPU minutes) and kept in $KERAS_I2I_CACHE/demo (default "
                    "~/.cache/keras_i2i/demo).")
    _model_source(demo, preset_required=False)
    demo.add_argument("--size", type=size,
                      help="label map size (default: the model's image_size, else its "
                           "dataset's crop size, else 256)")
    demo.add_argument("--host", default="127.0.0.1",
                      help="address to serve on (0.0.0.0: every network interface)")
    demo.add_argument("--port", type=int, default=7860)


def _tune_routes_command(commands):
    tune = commands.add_parser(
        "tune-routes", help="measure whether the convolution routes are faster on this machine",
        description="Times a model's training step and inference with this package's "
                    "convolution routes (keras_i2i/layers/conv_routes.py) and without, on "
                    "random inputs under XLA (about a minute with the defaults on a "
                    "2-core CPU), and records which is faster, for training and for "
                    "inference, in $KERAS_I2I_CACHE/conv_routes.json (default "
                    "~/.cache/keras_i2i) for this processor, backend and version. Unmeasured "
                    "machines convolve plainly; KERAS_I2I_CONV_ROUTES=on|off overrides.")
    tune.add_argument("--model", default="pix2pixhd",
                      help="the model timed (default pix2pixhd; best: the one you train)")
    tune.add_argument("--preset", help="its preset or preset folder (default: label2city_512p, "
                                       "cityscapes, edges2shoes, ... as benchmarks/run.py)")
    tune.add_argument("--size", type=size, default=(256, 256), help="image size (256)")
    tune.add_argument("--width", type=int,
                      help="base width, ngf or dim (default 32; with --preset, the preset's)")
    tune.add_argument("--batch-size", type=int, default=1)
    tune.add_argument("--steps", type=int, default=5, help="timed rounds (5)")


# ------------------------------------------------------------------ a model's own options

# Set by the data options (`--label-nc`, `--contain-dontcare-label`, `--no-instance`), which
# the data loader and the model must agree on.
_DATA_BOUND = {"label_nc", "contain_dontcare_label", "use_instance"}


def _model_options(parser, spec):
    """Adds `spec.model_class`'s constructor arguments and `spec.aliases` to `parser`; each
    given one lands in `args.model_options[argument] = value`."""
    from keras_i2i.presets import constructor_arguments  # imports Keras: once a model is named

    group = parser.add_argument_group(
        f"{spec.model_class.__name__} options (default: the preset's values)")
    names = set()
    taken = set(parser._option_string_actions)  # the command's own options win (--seed)
    for name, default in constructor_arguments(spec.model_class).items():
        if name in _DATA_BOUND or _flag(name) in taken:
            continue
        names.add(name)
        kind = _option_kind(default)
        if kind is not None:
            group.add_argument(_flag(name), **{
                "dest": f"model:{name}", "default": argparse.SUPPRESS,
                "help": f"class default {default!r}", "metavar": name.upper(), **kind})
    for alias, target in spec.aliases.items():
        argument, value = (target, None) if isinstance(target, str) else target
        if argument not in names or _flag(alias) in taken | {_flag(argument)}:
            continue
        if value is None:
            kind = _option_kind(constructor_arguments(spec.model_class)[argument])
            group.add_argument(_flag(alias), **{
                "dest": f"model:{argument}", "default": argparse.SUPPRESS,
                "help": f"= {_flag(argument)}", "metavar": argument.upper(), **kind})
        else:
            group.add_argument(_flag(alias), dest=f"model:{argument}", action="store_const",
                               const=value, default=argparse.SUPPRESS,
                               help=f"= {_flag(argument)} {value}")


def _flag(name):
    return "--" + name.lower().replace("_", "-")


def _option_kind(default):
    """argparse settings for an argument with this default; None for those only `--set`
    gives (initializers and other objects)."""
    if isinstance(default, bool):
        return {"action": argparse.BooleanOptionalAction, "metavar": None}
    if isinstance(default, (int, float)):
        return {"type": type(default) if isinstance(default, float) else _int_or_float}
    if isinstance(default, tuple):
        return {"type": size}
    if isinstance(default, str) or default is None:
        return {"type": literal}
    return None


def _int_or_float(text):
    value = literal(text)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    return value


def model_overrides(args):
    """The model options a parsed command line gives: `--set` and the model's own flags."""
    overrides = dict(args.settings)
    overrides.update({key.split(":", 1)[1]: value for key, value in vars(args).items()
                      if key.startswith("model:")})
    return overrides

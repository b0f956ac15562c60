"""`keras-i2i translate` (files in, images out) and `keras-i2i test` (a dataset split in, an
HTML page of inputs, outputs and real images out)."""

import html
import inspect
import os
import pathlib

import tensorflow as tf

from keras_i2i import data as data_lib
from keras_i2i import visualize
from keras_i2i.cli import commands, video
from keras_i2i.data import io, layouts
from keras_i2i.data.boxes import read_annotations
from keras_i2i.data.pipeline import ErrorPolicy
from keras_i2i.models import registry

# --with NAME=FOLDER: which argument of the model's `translate` a further input feeds.
_COMPANIONS = {"instance": "instances"}


def translate(args):
    model, dataset = commands.load_model(args)
    if hasattr(model, "clip_frames"):  # a video model (trains on clips)
        settings = _label_settings(args.dataset or dataset)
        return video.translate(args, model, lambda path: _read_labels(path, settings))
    for flag, value in (("--first-frames", args.first_frames),
                        ("--first-frame-model", args.first_frame_model)):
        if value is not None:
            raise ValueError(f"{flag}: {type(model).__name__} translates images, not videos.")
    first = next(iter(model.serving_endpoints().values()))[1][0]
    reads_labels = first.dtype.is_integer
    settings = _label_settings(args.dataset or dataset) if reads_labels else None
    companions = dict(_name_and_folder(option) for option in args.with_)
    options = _translate_options(model, args, companions)
    examples = options.pop("examples", None)
    annotations = _annotations(args.boxes) if args.boxes is not None else None
    out = pathlib.Path(args.out)
    for path in _input_files(args.inputs):
        folder = str(pathlib.Path(path).parent)
        key = layouts.pairing_key(path, folder)
        source = _read_labels(path, settings) if reads_labels else io.read_image(path).numpy()
        inputs = {_COMPANIONS[name]: io.read_label_map(_companion(folder, key, name)).numpy()[None]
                  for name, folder in companions.items()}
        if annotations is not None:
            inputs["boxes"] = [_boxes_of(path, annotations, args.boxes)]
        if args.style_image is not None:
            style = _style_file(args.style_image, key)
            inputs[examples] = _resized(io.read_image(style), source.shape[:2])[None]
        try:
            images = model.translate(source[None], **inputs, **options)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        images = images[0] if images.ndim == 5 else images
        for index, image in enumerate(images):
            name = f"{key}.png" if len(images) == 1 else f"{key}_style{index}.png"
            print(visualize.save_png(out / name, image))


def _label_settings(dataset):
    """The label conventions that raw label files are mapped with, or None (ids as stored)."""
    return None if dataset is None else data_lib.dataset_settings(dataset)


def _translate_options(model, args, companions):
    """The keyword arguments of `model.translate` that the command line gives (and, with
    --style-image, under "examples" the name of the argument its images feed); an option the
    model does not take is an error naming it."""
    accepted = inspect.signature(model.translate).parameters
    # DRIT's and MDMM's names for MUNIT's styles.
    count = "num_attributes" if "num_attributes" in accepted else "num_styles"
    examples = "attribute_images" if "attribute_images" in accepted else "style_images"
    given = {count: ("--num-styles", args.num_styles), "seed": ("--seed", args.seed),
             "direction": ("--direction", args.direction),
             "target_domain": ("--target-domain", args.target_domain),
             examples: ("--style-image", args.style_image), "boxes": ("--boxes", args.boxes)}
    given.update({_COMPANIONS.get(name, name): (f"--with {name}=", folder)
                  for name, folder in companions.items()})
    model_name = type(model).__name__
    for argument, (flag, value) in given.items():
        if value is not None and argument not in accepted:
            raise ValueError(f"{flag}: {model_name}.translate takes no {argument} (it takes "
                             f"{', '.join(list(accepted)[1:])}).")
    options = {argument: value for argument, (flag, value) in given.items()
               if value is not None
               and argument not in (examples, "boxes", *_COMPANIONS.values())}
    return {**options, "examples": examples} if args.style_image is not None else options


def _annotations(path):
    """{absolute image path: [(class, x1, y1, x2, y2), ...]} of an annotation file
    (`--boxes`)."""
    entries = read_annotations(path, ErrorPolicy("raise"))
    return {os.path.abspath(image): rows for image, rows in entries.items()}


def _boxes_of(path, annotations, annotation_file):
    rows = annotations.get(os.path.abspath(path))
    if rows is None:
        raise ValueError(f"{path}: no entry in the --boxes file {annotation_file} (it names "
                         "images relative to its own folder)")
    return rows


def _read_labels(path, settings):
    labels = io.read_label_map(path).numpy()
    if settings is not None:
        io.check_label_ids(path, labels, settings)
        labels = io.map_label_ids(labels, settings).numpy()
    return labels


def _resized(image, size):
    if tuple(image.shape[:2]) == tuple(size):
        return image.numpy()
    return tf.image.resize(image, size, method="bicubic").numpy()


def _name_and_folder(option):
    name, separator, folder = option.partition("=")
    if not separator or not pathlib.Path(folder).is_dir():
        raise ValueError(f"--with {option}: expected NAME=FOLDER with an existing folder.")
    if name not in _COMPANIONS:
        raise ValueError(f"--with {option}: the further inputs are "
                         f"{', '.join(_COMPANIONS)}; an example image is --style-image.")
    return name, folder


def _input_files(inputs):
    files = []
    for item in inputs:
        path = pathlib.Path(item)
        if path.is_dir():
            files += io.list_files(str(path))
        elif path.is_file():
            files.append(str(path))
        else:
            raise ValueError(f"{path}: no such file or folder.")
    if not files:
        raise ValueError(f"{', '.join(inputs)}: no image files to translate.")
    return files


def _companion(folder, key, name):
    matches = [path for path in io.list_files(folder) if layouts.pairing_key(path, folder) == key]
    if not matches:
        raise ValueError(f"{folder}: no {name} file named like {key}.* (paired by file name).")
    return matches[0]


def _style_file(style, key):
    if pathlib.Path(style).is_file():
        return style
    if pathlib.Path(style).is_dir():
        return _companion(style, key, "style image")
    raise ValueError(f"--style-image {style}: no such file or folder.")


# ------------------------------------------------------------------ test


def split(args, model, batch_size, **options):
    """`(the --phase split of the --data folder as batches for `model`, its data settings)`,
    unaugmented, in order; `options`: further options of the loader (a video's `frames`)."""
    spec = registry.get_model(args.model)
    name, overrides = commands.data_settings(spec, args, model.get_config())
    settings = data_lib.dataset_settings(name, **overrides)
    commands.check_model_fits_data(model.get_config(), settings, name)
    options = {"phase": args.phase, "batch_size": batch_size, "training": False,
               "on_error": args.on_error, **commands.model_data_options(model), **options}
    if args.layout is not None:
        options["layout"] = args.layout
    samples = commands.load_folder(commands.loader(spec, settings), args.data, name, overrides,
                                   **options)
    return samples, settings


def test(args):
    model, _ = commands.load_model(args)
    samples, _ = split(args, model, batch_size=1)
    out = pathlib.Path(args.out)
    rows, titles = [], []
    for index, batch in enumerate(samples.take(args.how_many)):
        columns = model.sample_columns(batch)
        titles = titles or list(columns)
        row = []
        for title, images in columns.items():
            file = f"images/{index:05d}_{_file_name(title)}.png"
            visualize.save_png(out / file, images[0])
            row.append(file)
        rows.append(row)
    if not rows:
        raise ValueError(f"--data {args.data}: no {args.phase} samples.")
    page = index_page(f"{args.model}, {args.preset}: {args.phase} split of {args.data}",
                       titles, rows)
    (out / "index.html").write_text(page)
    print(f"{len(rows)} samples written to {out / 'index.html'}.")


def _file_name(title):
    return "".join(c if c.isalnum() else "_" for c in title)


def index_page(heading, titles, rows):
    """An HTML page: a table with a column per title and a row of image files per sample."""
    head = "".join(f"<th>{html.escape(title)}</th>" for title in titles)
    body = "\n".join(
        f"<tr><td>{index}</td>" + "".join(
            f'<td><a href="{file}"><img src="{file}" width="256"></a></td>' for file in row)
        + "</tr>" for index, row in enumerate(rows))
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(heading)}"
            f"</title></head>\n<body><h1>{html.escape(heading)}</h1>\n<table>\n"
            f"<tr><th>#</th>{head}</tr>\n{body}\n</table></body></html>\n")

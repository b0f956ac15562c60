"""`keras-i2i demo`: paint a label map in a web page and see the image a model makes of it.

    keras-i2i demo --model spade                        # a small model of the synthetic scenes
    keras-i2i demo --model pix2pixhd --preset runs/p2p --port 7861

A local Gradio app (`pip install keras-i2i[demo]`): paint over the label map with a class's
colour, or upload a label map (a PNG of ids, or coloured as the app shows them), and press
Generate. Models that sample styles (SPADE with the VAE, MUNIT, DRIT; pix2pixHD's instance
clusters) get a style seed and "Random style"; SPADE with the VAE, MUNIT and DRIT take a style
image; pix2pixHD with instance features lets one pick an object and another cluster for it.
MUNIT and DRIT translate the painting itself, an image of their domain a (the synthetic
"day" scenes are the class colours, shaded).

Without `--preset` the model is a small one that `keras-i2i train` trains on the synthetic
scenes the first time (`DEFAULT_TRAINING`: a few CPU minutes), kept in
`$KERAS_I2I_CACHE/demo/<model>` (default `~/.cache/keras_i2i/demo/<model>`) and reused.

`Demo` holds the model logic and runs without Gradio; `build_app` wires it to a page.
"""

import dataclasses
import os
import pathlib
import random

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_i2i import presets as preset_lib
from keras_i2i import visualize
from keras_i2i.machine import cache_dir
from keras_i2i.data.synthetic import CLASS_NAMES, THING_CLASSES, procedural
from keras_i2i.data.synthetic.datasets import scene_sample

# `keras-i2i train` options of the default models: the synthetic presets, trained briefly on
# the synthetic scenes (SPADE with its VAE, for styles; DRIT's batch a multiple of 2 x d_iter).
# Their images are sketches of the scenes, not a trained model's.
DEFAULT_TRAINING = {
    "spade": ["--preset", "synthetic", "--set", "use_vae=True", "--epochs", "4"],
    "pix2pixhd": ["--preset", "synthetic_global", "--epochs", "4", "--no-jit"],
    "munit": ["--preset", "synthetic", "--epochs", "4"],
    "drit": ["--preset", "synthetic", "--epochs", "3", "--batch-size", "6"],
}
_TRAINING_DATA = ["--data", "synthetic", "--synthetic-samples", "64", "--batch-size", "4",
                  "--verbose", "2"]
MODELS = ("SPADE", "Pix2PixHD", "MUNIT", "DRIT")
CANVAS_SIDE = 256  # canvas pixels of the shorter side, at least: small maps are enlarged


# ------------------------------------------------------------------ label maps and canvases


def synthetic_palette():
    """The synthetic scenes' class names and uint8 (5, 3) colours (their rendering's)."""
    return CLASS_NAMES, np.round(procedural.PALETTE * 255).astype(np.uint8)


def id_palette(num_classes):
    """Names "class i" and `visualize`'s uint8 (num_classes, 3) colours of ids."""
    ids = np.arange(num_classes, dtype=np.int32)[None, :, None]
    return tuple(f"class {i}" for i in ids.flat), visualize.as_uint8_rgb(ids).numpy()[0]


def colours_to_ids(canvas, colours, size):
    """The label map of a painted canvas: int32 (H, W) = `size`.

    Each canvas pixel takes the id of the nearest colour (RGB distance); each label pixel, the
    id most canvas pixels it covers took, so a brush's soft edges make no other classes.

    Args:
        canvas: uint8 (h, w, 3 or 4), RGB(A) (alpha ignored), any size.
        colours: uint8 (N, 3), the colour of each id.
        size: (H, W).
    """
    rgb = np.asarray(canvas, np.float32)[..., :3]
    colours = np.asarray(colours, np.float32)
    # |rgb - c|^2 up to the term in |rgb|^2, which every c shares.
    distances = np.sum(colours**2, axis=-1) - 2.0 * rgb @ colours.T
    votes = np.eye(len(colours), dtype=np.float32)[np.argmin(distances, axis=-1)]
    votes = tf.image.resize(votes, size, method="area").numpy()
    return np.argmax(votes, axis=-1).astype(np.int32)


def colourize(ids, colours, scale=1):
    """uint8 (H * scale, W * scale, 3): each id of int (H, W) `ids` in its colour."""
    return enlarge(np.asarray(colours, np.uint8)[ids], scale)


def enlarge(image, scale):
    """`image` (H, W, C) repeated `scale` times along H and W (nearest-neighbour)."""
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def instance_map(ids, thing_classes):
    """Instance ids of a label map as in the synthetic scenes and Cityscapes: each connected
    region of a thing class its own id, class * 1000 + k (the k-th region, in scan order),
    every other pixel its class id. int32 (H, W) from int (H, W) `ids`."""
    from scipy import ndimage

    instances = np.asarray(ids, np.int32).copy()
    for thing in thing_classes:
        regions, _ = ndimage.label(instances == thing)
        instances = np.where(regions > 0, thing * 1000 + regions - 1, instances)
    return instances


def read_label_file(path, colours, size):
    """A label map file as int32 (H, W) = `size` ids: a PNG of ids (one channel or a palette
    PNG) resized by nearest neighbour, or a coloured one through `colours_to_ids`."""
    with Image.open(path) as image:
        if image.mode in ("RGB", "RGBA"):
            return colours_to_ids(np.asarray(image), colours, size)
        ids = np.asarray(image.resize(size[::-1], Image.NEAREST)).astype(np.int32)
    if ids.ndim != 2 or ids.max() >= len(colours):
        raise ValueError(f"{pathlib.Path(path).name}: expected label ids 0..{len(colours) - 1} "
                         f"in one channel, got {image.mode} values up to {ids.max()}")
    return ids


def to_uint8(image):
    """uint8 from a float image in [-1, 1]."""
    return visualize.to_uint8(np.asarray(image, np.float32)).numpy()


def to_float(image, size):
    """float32 (H, W, 3) in [-1, 1] = `size` from a uint8 RGB(A) image (bicubic resize)."""
    image = np.asarray(image)[..., :3].astype(np.float32) / 127.5 - 1.0
    if image.shape[:2] != tuple(size):
        image = tf.image.resize(image, size, method="bicubic", antialias=True).numpy()
    return np.clip(image, -1.0, 1.0)


# ------------------------------------------------------------------ the model


@dataclasses.dataclass
class Demo:
    """A model and how the app paints for it and calls it.

    Attributes:
        model: a SPADE, Pix2PixHD, MUNIT or DRIT.
        size: (H, W) of its label maps (or images) and outputs.
        class_names: a name per label id (MUNIT, DRIT: per paint colour).
        colours: uint8 (N, 3), each id's colour on the canvas.
        synthetic: whether the model knows the synthetic scenes (the canvas starts with one).
        scale: canvas pixels per model pixel, along H and W.
    """

    model: object
    size: tuple
    class_names: tuple
    colours: np.ndarray
    synthetic: bool
    scale: int

    @classmethod
    def of(cls, model, dataset=None, size=None):
        """The demo of `model`, which was trained on `dataset` (a name or None).

        `size` (H, W) defaults to the model's `image_size`, else the dataset's crop, else
        256 x 256, rounded up to multiples of the model's `size_multiple`.
        """
        if type(model).__name__ not in MODELS:
            raise ValueError(f"The demo shows {', '.join(MODELS)} models, not "
                             f"{type(model).__name__}.")
        synthetic = dataset == "synthetic"
        num_classes = getattr(model, "num_classes", getattr(model, "label_nc", 0))
        if num_classes and not synthetic:
            names, colours = id_palette(num_classes)
        else:
            names, colours = synthetic_palette()
        size = tuple(size or _default_size(model, dataset))
        if getattr(model, "use_vae", False):
            if size != model.image_size:
                raise ValueError(f"This SPADE makes {model.image_size} images only (its VAE's "
                                 f"dense layer fixes the size), not {size}.")
        else:
            multiple = model.size_multiple
            size = tuple(-(-n // multiple) * multiple for n in size)
        return cls(model, size, names, colours, synthetic, max(1, CANVAS_SIDE // min(size)))

    @property
    def reads_labels(self):
        """Whether the model's input is a label map (else an image: the canvas itself)."""
        return getattr(self.model, "label_nc", 0) > 0

    @property
    def style_argument(self):
        """The argument of `model.translate` that takes a style image, or None."""
        name = type(self.model).__name__
        if name == "SPADE":
            return "style_images" if self.model.use_vae else None
        return {"MUNIT": "style_images", "DRIT": "attribute_images"}.get(name)

    @property
    def seeded(self):
        """Whether a seed changes the image: random styles, or pix2pixHD's clusters."""
        model = self.model
        return (type(model).__name__ in ("MUNIT", "DRIT") or getattr(model, "use_vae", False)
                or getattr(model, "instance_feat", False))

    @property
    def instance_styles(self):
        """Whether objects take styles of their own (pix2pixHD's instance clusters)."""
        return getattr(self.model, "instance_feat", False)

    @property
    def thing_classes(self):
        """Ids whose regions are objects (instances): the synthetic scenes' things, else
        every id but 0."""
        return THING_CLASSES if self.synthetic else range(1, len(self.class_names))

    def scene(self, index):
        """A canvas uint8 (H * scale, W * scale, 3) to start from: synthetic scene `index`
        (its label map, or for MUNIT and DRIT its day rendering), else a map of id 0."""
        if not self.synthetic:
            return colourize(np.zeros(self.size, np.int32), self.colours, self.scale)
        sample = scene_sample(index, size=self.size)
        if self.reads_labels:
            return colourize(sample["label"][..., 0], self.colours, self.scale)
        return enlarge(to_uint8(sample["image"]), self.scale)

    def style_example(self, index):
        """A synthetic image of the style's domain, uint8 (H, W, 3): a day scene for SPADE,
        a night scene for MUNIT's a2b and DRIT's translation to b."""
        domain = "day" if self.reads_labels else "night"
        return to_uint8(scene_sample(index, size=self.size, domain=domain, stream=1)["image"])

    def canvas_from_file(self, path):
        """The canvas of an uploaded file: a label map (ids or colours) for a label model, an
        image (resized) for MUNIT and DRIT."""
        if self.reads_labels:
            return colourize(read_label_file(path, self.colours, self.size), self.colours,
                             self.scale)
        with Image.open(path) as image:
            return enlarge(to_uint8(to_float(np.asarray(image.convert("RGB")), self.size)),
                           self.scale)

    def label_maps(self, canvas):
        """`(labels, instances)` of a canvas, int32 (H, W) each (instances None for a model
        without instance maps)."""
        labels = colours_to_ids(canvas, self.colours, self.size)
        if not getattr(self.model, "use_instance", False):
            return labels, None
        return labels, instance_map(labels, self.thing_classes)

    def generate(self, canvas, seed=0, style_image=None, choices=None):
        """The model's image of a canvas: uint8 (H * scale, W * scale, 3).

        Args:
            canvas: uint8 (h, w, 3 or 4), the painted label map (MUNIT, DRIT: image).
            seed: int, the random style (pix2pixHD: the objects' clusters); unused by models
                that have none.
            style_image: uint8 (h', w', 3) whose style to use (models with a
                `style_argument`), or None.
            choices: pix2pixHD with instance features: `{instance id: cluster}`.
        """
        options = {"seed": int(seed)} if self.seeded else {}
        if style_image is not None and self.style_argument is not None:
            options[self.style_argument] = to_float(style_image, self.size)[None]
        if choices:
            options["choices"] = {int(key): int(value) for key, value in choices.items()}
        if self.reads_labels:
            labels, instances = self.label_maps(canvas)
            source = labels[None]
            if instances is not None:
                options["instances"] = instances[None]
        else:
            source = to_float(canvas, self.size)[None]
        return enlarge(to_uint8(self.model.translate(source, **options)[0]), self.scale)

    def objects(self, canvas, seed=0, choices=None):
        """pix2pixHD's objects of a canvas: `[(name, instance id, cluster, clusters)]`, the
        cluster each one takes (`choices`, else `seed`'s pick) of its class's `clusters`."""
        labels, instances = self.label_maps(canvas)
        clusters = self.model.choose_clusters(labels[None, ..., None], instances[None, ..., None],
                                              choices or {}, int(seed))
        clusters = np.asarray(clusters)[0, ..., 0]
        counts = np.asarray(self.model.cluster_counts)
        found = []
        for instance in np.unique(instances[instances >= 1000]):
            rows, columns = np.nonzero(instances == instance)
            kind = instance // 1000
            name = (f"{self.class_names[kind]} {instance % 1000 + 1} at "
                    f"({columns.mean():.0f}, {rows.mean():.0f})")
            found.append((name, int(instance), int(clusters[rows[0], columns[0]]),
                          int(counts[kind])))
        return found


def _default_size(model, dataset):
    if hasattr(model, "image_size"):
        return model.image_size
    if dataset is not None:
        from keras_i2i import data as data_lib

        size = data_lib.dataset_settings(dataset).preprocessing(training=False).output_size
        if None not in size:
            return size
    return (CANVAS_SIDE, CANVAS_SIDE)


# ------------------------------------------------------------------ the default models


def default_preset(name):
    """The run folder of the default `name` model: trained by `keras-i2i train` on the
    synthetic scenes the first time (`DEFAULT_TRAINING`; a stopped training resumes), then
    reused."""
    if name not in DEFAULT_TRAINING:
        raise ValueError(f"--model {name}: the demo has no default model of it; pass --preset "
                         f"(defaults: {', '.join(DEFAULT_TRAINING)}).")
    run = cache_dir("demo", name)  # the default models' runs
    if not preset_lib.is_preset_dir(run / "preset"):
        from keras_i2i.cli import arguments, train

        print(f"No --preset: training a small {name} on the synthetic scenes into {run}, once "
              "(a few minutes on a CPU).")
        argv = ["train", "--model", name, "--out", str(run), *_TRAINING_DATA,
                *DEFAULT_TRAINING[name]]
        train.train(arguments.parser().parse_args(argv))
    return str(run)


# ------------------------------------------------------------------ the app


def serve(args):
    """`keras-i2i demo`: the app of `--model` and `--preset` (default: `default_preset`) on
    http://HOST:PORT, until Ctrl-C."""
    from keras_i2i.cli import commands

    if args.preset is None:
        args.preset = default_preset(args.model)
    model, dataset = commands.load_model(args)
    launch(build_app(Demo.of(model, dataset, args.size)), args.host, args.port)


def launch(app, host="127.0.0.1", port=7860, block=True):
    """Serves a `build_app` page on http://host:port, fetching nothing from outside (no
    analytics, no share link, no server-side rendering); `block=False` returns at once and
    serves from a thread (`app.close()` stops it)."""
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False,
               ssr_mode=False, prevent_thread_lock=not block, quiet=not block)


def build_app(demo):
    """The Gradio page of a `Demo`: the canvas and the model's controls (module docstring)."""
    gr = _gradio()
    hexes = ["#%02x%02x%02x" % tuple(colour) for colour in demo.colours]
    first = len(hexes) - 1 if demo.synthetic else 0  # the cone: a thing of the synthetic scenes
    what, article = ("label map", "a") if demo.reads_labels else ("image", "an")
    title = f"keras-i2i demo: {type(demo.model).__name__}"

    def brush(index):
        return gr.Brush(colors=hexes, default_color=hexes[int(index)], color_mode="fixed",
                        default_size=2 * demo.scale)

    def shown(function):
        """`function`, its ValueErrors shown on the page."""
        def call(*args):
            try:
                return function(*args)
            except ValueError as error:
                raise gr.Error(str(error)) from None
        return call

    run = shown(lambda edited, seed, style_image, choices: demo.generate(
        _painted(edited), seed, style_image, choices))

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"### {title}\nPaint the {what} with a class's colour and press Generate.")
        scene_index, style_index, chosen = gr.State(0), gr.State(0), gr.State({})
        with gr.Row():
            with gr.Column():
                paint = gr.Dropdown([(name, index) for index, name in enumerate(demo.class_names)],
                                    value=first, label="Paint with", elem_id="paint-class")
                # The eraser stays: without it Gradio 6.31 shows no tools at all.
                canvas = gr.ImageEditor(
                    _editor_value(demo.scene(0)), image_mode="RGB", type="numpy", format="png",
                    sources=(), transforms=(), layers=False, brush=brush(first),
                    canvas_size=(demo.size[1] * demo.scale, demo.size[0] * demo.scale),
                    label=what.capitalize(), interactive=True, elem_id="canvas")
                with gr.Row():
                    upload = gr.UploadButton(f"Upload {article} {what}", file_types=["image"],
                                             elem_id="upload")
                    new_scene = gr.Button("New scene", visible=demo.synthetic)
                gr.HTML(" ".join(
                    f'<span style="white-space:nowrap"><span style="display:inline-block;'
                    f'width:1em;height:1em;background:{colour}"></span> {name}</span>'
                    for name, colour in zip(demo.class_names, hexes)))
            with gr.Column():
                output = gr.Image(label="Generated", type="numpy", format="png",
                                  interactive=False, elem_id="output")
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                seed = gr.Slider(0, 9999, value=0, step=1, label="Style seed",
                                 visible=demo.seeded, elem_id="seed")
                random_style = gr.Button("Random style", visible=demo.seeded)
                styled = demo.style_argument is not None
                style = gr.Image(label="Style image (none: the seed's random style)",
                                 type="numpy", sources=["upload", "clipboard"], visible=styled)
                example_style = gr.Button("Style of a synthetic scene",
                                          visible=styled and demo.synthetic)
                target = gr.Dropdown([], label="Object", visible=demo.instance_styles,
                                     elem_id="object")
                cluster = gr.Slider(0, max(1, getattr(demo.model, "n_clusters", 2) - 1), step=1,
                                    label="Its style (cluster of its class)",
                                    visible=demo.instance_styles, elem_id="cluster")

        inputs = [canvas, seed, style, chosen]
        regenerate = dict(fn=run, inputs=inputs, outputs=output)
        paint.change(lambda index: gr.ImageEditor(brush=brush(index)), paint, canvas)
        generate.click(**regenerate)
        app.load(**regenerate)
        seed.release(**regenerate)
        style.change(**regenerate)
        random_style.click(lambda: random.randrange(10000), None, seed).then(**regenerate)
        upload.upload(shown(lambda file: (_editor_value(demo.canvas_from_file(file)), {})),
                      upload, [canvas, chosen]).then(**regenerate)
        new_scene.click(lambda index: (_editor_value(demo.scene(index + 1)), index + 1, {}),
                        scene_index, [canvas, scene_index, chosen]).then(**regenerate)
        example_style.click(lambda index: (demo.style_example(index), index + 1), style_index,
                            [style, style_index])
        if demo.instance_styles:
            _object_controls(gr, demo, regenerate, output, target, cluster)
    return app


def _object_controls(gr, demo, regenerate, output, target, cluster):
    """pix2pixHD's object picker: each image lists its objects; picking one shows its
    cluster; moving the slider gives it another."""
    canvas, seed, _, chosen = regenerate["inputs"]

    def listed(edited, seed, choices, current):
        found = demo.objects(_painted(edited), seed, choices)
        ids = [instance for _, instance, _, _ in found]
        return gr.Dropdown([(name, instance) for name, instance, _, _ in found],
                           value=current if current in ids else next(iter(ids), None))

    def picked(edited, seed, choices, current):
        for _, instance, index, count in demo.objects(_painted(edited), seed, choices):
            if instance == current:
                return gr.Slider(maximum=max(1, count - 1), value=index)
        return gr.Slider()

    def chose(choices, current, index):
        return choices if current is None else {**choices, current: int(index)}

    output.change(listed, [canvas, seed, chosen, target], target)
    target.change(picked, [canvas, seed, chosen, target], cluster)
    cluster.release(chose, [chosen, target, cluster], chosen).then(**regenerate)


def _editor_value(canvas):
    return {"background": canvas, "layers": [], "composite": canvas}


def _painted(edited):
    """The canvas of an ImageEditor's value: what is shown (composite), else its background."""
    return edited["composite"] if edited["composite"] is not None else edited["background"]


def _gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError:
        raise ValueError("The demo needs Gradio: pip install keras-i2i[demo]") from None
    return gradio

"""The models the `keras-i2i` command knows, by name, with their data and training defaults.

Each model registers itself once, in its package's `__init__.py`, beside its presets:

    register_model("spade", SPADE, data="paired_labels", synthetic="scenes",
                   schedule="linear", converter="keras_i2i.convert.spade:convert_checkpoint",
                   description="SPADE / GauGAN: semantic label map -> photo")

A model registers under its package's name (`keras_i2i/models/spade/` -> "spade"), which the
command imports when that name is asked for; a package may register others beside it (the
drit package's "mdmm"), found by importing every package.
"""

import dataclasses
import importlib
import pkgutil
from typing import Callable, Union

SCHEDULES = ("constant", "linear", "step")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How the command line builds, feeds and trains one model.

    Attributes:
        name: the command-line name (`--model spade`).
        model_class: the `GANModel` subclass.
        data: the loader in `keras_i2i.data` for a dataset folder ("paired_labels",
            "paired_images", "unpaired", "multi_domain", "video_clips", ...), or a function
            `(root, dataset=None, *, batch_size, seed, **options) -> tf.data.Dataset`.
        synthetic: the generator in `keras_i2i.data.synthetic` ("scenes", "unpaired", ...),
            or a function `(num_samples, *, size, batch_size, seed) -> tf.data.Dataset`.
        schedule: the reference learning-rate policy: "linear" (pix2pixHD/SPADE: constant,
            then linear decay over the last `decay_epochs`), "step" (MUNIT: times `gamma`
            every `step_size` steps) or "constant": the command adds no schedule (also right for
            a model whose optimizers or `training_callbacks()` already schedule its rates;
            `--schedule` replaces those).
        step_size: steps between decays of the "step" schedule.
        gamma: the decay factor of the "step" schedule.
        converter: `function(checkpoint, output_dir, preset)` (or "module:function", imported
            when used) writing a preset folder from a reference PyTorch checkpoint (a file or
            folder path; `preset` a built-in preset name or None), or None.
        description: one line for `keras-i2i presets`.
        aliases: command-line names of constructor arguments, as the reference code spells
            its options: `{"lr": "learning_rate"}` makes `--lr` set `learning_rate`;
            `{"no_vgg_loss": ("lambda_vgg", 0.0)}` makes the switch `--no-vgg-loss` set it to
            0. Every constructor argument is an option under its own name too (`--ngf`).
    """

    name: str
    model_class: type
    data: Union[str, Callable]
    synthetic: Union[str, Callable]
    schedule: str = "linear"
    step_size: int = 100_000
    gamma: float = 0.5
    converter: Union[str, Callable, None] = None
    description: str = ""
    aliases: dict = dataclasses.field(default_factory=dict)


_MODELS = {}


def register_model(name, model_class, **spec):
    """Makes `model_class` known to the command line as `name` (see `ModelSpec`)."""
    spec = ModelSpec(name, model_class, **spec)
    if spec.schedule not in SCHEDULES:
        raise ValueError(f"Model {name!r}: schedule must be one of {SCHEDULES}, "
                         f"got {spec.schedule!r}.")
    _MODELS[name] = spec
    return spec


def get_model(name):
    """The `ModelSpec` registered as `name`; the error lists the known names."""
    if name not in _MODELS and name in _model_packages():
        importlib.import_module(f"keras_i2i.models.{name}")
    if name not in _MODELS:  # a package may register several models (drit: mdmm)
        list_models()
    if name not in _MODELS:
        known = ", ".join(sorted(set(_MODELS) | set(_model_packages()))) or "none"
        raise ValueError(f"Unknown model {name!r}. Known models: {known}.")
    return _MODELS[name]


def list_models():
    """Every `ModelSpec`, by name (importing every model package)."""
    for name in _model_packages():
        importlib.import_module(f"keras_i2i.models.{name}")
    return dict(sorted(_MODELS.items()))


def _model_packages():
    import keras_i2i.models as package

    return [module.name for module in pkgutil.iter_modules(package.__path__) if module.ispkg]

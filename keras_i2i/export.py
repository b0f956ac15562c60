"""SavedModel export with explicit, named serving signatures (for TF Serving).

Each model lists its endpoints (`GANModel.serving_endpoints`): a function taking named tensors
and returning a dict of named tensors, with its inputs (`ServingInput`: name, layout, dtype).
The first endpoint is also the SavedModel's `serving_default`.

Served inputs are checked inside the exported graph, and raise `InvalidArgumentError` with a
message saying what was expected: TF Serving feeds tensors to the graph without comparing
them with the signature's shapes, and a bad one would otherwise fail deep inside an op, or
silently give a wrong image. So the signatures declare each input's dtype only (any rank),
and every endpoint first checks its inputs' layouts (`check_inputs`); the model's endpoint
functions add what only they know (`check_ids`, `check_size_multiple`, `check_size`).

    python -m keras_i2i.export PRESET_FOLDER OUT [--quiet]

exports a preset folder (how models of other backends are exported);

    python -m keras_i2i.export --describe MODEL PRESET [ARGUMENT=VALUE ...]

prints the signatures of a model built from a preset (`signature_table`), as docs/serving.md
shows them.
"""

import inspect
import json
from typing import NamedTuple

import keras
import tensorflow as tf

# The words of the layouts' named sizes, for messages.
SIZE_NAMES = {"B": "batch size", "H": "height", "W": "width"}


class ServingInput(NamedTuple):
    """One named input of an endpoint.

    `layout` gives each axis: an int fixes its size; a string names it, and the inputs of an
    endpoint that name the same size must agree on it ("B", "H", "W": batch size, height and
    width); None leaves it free. E.g. `ServingInput("z", ("B", 256))`.
    """

    name: str
    layout: tuple
    dtype: tf.DType = tf.float32


def spatial_input(name, channels, dtype=tf.float32):
    """A `ServingInput` of maps (B, H, W, channels) sharing the endpoint's B, H and W."""
    return ServingInput(name, ("B", "H", "W", channels), dtype)


def export_saved_model(model, filepath, endpoints, verbose=True):
    """Writes `model` to `filepath` as a SavedModel with the given endpoints.

    Args:
        model: the (built) model whose variables the endpoints use.
        filepath: output folder.
        endpoints: `{name: (function, [ServingInput or tf.TensorSpec, ...])}`; the functions
            take the inputs' tensors, checked (`check_inputs`), as positional arguments and
            return a dict of output tensors. A `tf.TensorSpec` is an input of its shape
            (None: a free size).
        verbose: print the endpoints written.

    The loaded SavedModel serves each endpoint as `signatures[name]` and as an attribute,
    both taking the inputs by name.
    """
    if not endpoints:
        raise ValueError(f"{type(model).__name__} defines no serving endpoints to export.")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, inputs) in endpoints.items():
        inputs = [serving_input(item) for item in inputs]
        archive.add_endpoint(name, _checked_endpoint(name, function, inputs),
                             input_signature=_input_specs(inputs))
    archive.write_out(filepath, verbose=verbose)
    return filepath


class Signature(NamedTuple):
    """A signature as `export_saved_model` writes it: its `name`, `inputs` (`ServingInput`s)
    and `outputs` (`{name: tf.TensorSpec}`, None where a size is known only at run time)."""

    name: str
    inputs: list
    outputs: dict


def signatures(model):
    """The `Signature`s of `model.serving_endpoints()`, traced as `export` traces them (nothing
    is written); the first is also the SavedModel's "serving_default"."""
    described = []
    for name, (function, inputs) in model.serving_endpoints().items():
        inputs = [serving_input(item) for item in inputs]
        traced = tf.function(_checked_endpoint(name, function, inputs),
                             input_signature=_input_specs(inputs)).get_concrete_function()
        outputs = {key: tf.TensorSpec(tensor.shape, tensor.dtype, key)
                   for key, tensor in traced.structured_outputs.items()}
        described.append(Signature(name, inputs, outputs))
    return described


def signature_table(model):
    """`model`'s signatures as a Markdown table: name, inputs (dtype and layout), outputs (dtype
    and static shape)."""
    rows = ["| Signature | Inputs | Outputs |", "| --- | --- | --- |"]
    for index, signature in enumerate(signatures(model)):
        name = f"`{signature.name}`" + (" (`serving_default`)" if index == 0 else "")
        inputs = [f"`{item.name}` {item.dtype.name} {layout_text(item.layout)}"
                  for item in signature.inputs]
        outputs = [f"`{key}` {spec.dtype.name} {layout_text(tuple(spec.shape))}"
                   for key, spec in signature.outputs.items()]
        rows.append(f"| {name} | {'<br>'.join(inputs)} | {'<br>'.join(outputs)} |")
    return "\n".join(rows)


def _input_specs(inputs):
    """The signature's `tf.TensorSpec`s of `ServingInput`s: their names and dtypes, any shape
    (the graph checks the layouts, with messages)."""
    return [tf.TensorSpec(None, item.dtype, name=item.name) for item in inputs]


def serving_input(item):
    """`item`, a `ServingInput` or a `tf.TensorSpec`, as a `ServingInput`."""
    if isinstance(item, ServingInput):
        return item
    return ServingInput(item.name, tuple(item.shape), item.dtype)


def _checked_endpoint(name, function, inputs):
    """`function` behind `check_inputs`, with parameters named like the inputs (so that the
    loaded object's attribute takes them by name, as the signature does)."""

    def endpoint(*tensors):
        return function(*check_inputs(inputs, tensors))

    endpoint.__name__ = name
    endpoint.__signature__ = inspect.Signature(
        [inspect.Parameter(item.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for item in inputs]
    )
    return endpoint


def check_inputs(inputs, tensors):
    """The tensors, once the graph has checked each against its `ServingInput`'s layout and
    the sizes that several layouts name alike; they come back with their layouts' static
    shapes."""
    tensors = [_check_layout(t, item.name, item.layout) for item, t in zip(inputs, tensors)]
    first = {}  # size name -> (input index, axis) of the first input naming it
    shared = {}  # (input index, later input index) -> [(axis, later axis, size name)]
    for index, item in enumerate(inputs):
        for axis, size in enumerate(item.layout):
            if isinstance(size, str):
                owner, owner_axis = first.setdefault(size, (index, axis))
                if owner != index:
                    shared.setdefault((owner, index), []).append((owner_axis, axis, size))
    checks = [_check_shared_sizes(inputs, tensors, pair, axes) for pair, axes in shared.items()]
    return _after(checks, tensors)


def _check_layout(tensor, name, layout):
    """Asserts `tensor`'s rank and fixed sizes; returns it with the layout's static shape."""
    shape = tf.shape(tensor)
    message = f"{name} must be a rank-{len(layout)} tensor {layout_text(layout)}, got shape {{}}"
    rank_checked = _assert(tf.equal(tf.size(shape), len(layout)), message, [shape])
    fixed = [(axis, size) for axis, size in enumerate(layout) if isinstance(size, int)]
    with tf.control_dependencies([rank_checked]):
        # Read only once the rank is known to be right: a missing axis would fail here.
        sizes = tf.gather(shape, tf.constant([axis for axis, _ in fixed], tf.int32))
    expected = tf.constant([size for _, size in fixed], tf.int32)
    sizes_checked = _assert(tf.reduce_all(tf.equal(sizes, expected)), message, [shape])
    static = static_shape(layout)
    with tf.control_dependencies([sizes_checked]):
        return tf.ensure_shape(tensor, static)


def _check_shared_sizes(inputs, tensors, pair, axes):
    """Asserts that two inputs agree on the sizes both layouts name."""
    first, second = pair
    shapes = [tf.shape(tensors[first]), tf.shape(tensors[second])]
    same = [tf.equal(shapes[0][a], shapes[1][b]) for a, b, _ in axes]
    sizes = _and_join([SIZE_NAMES.get(size, size) for _, _, size in axes])
    message = (f"{inputs[first].name} and {inputs[second].name} must have the same {sizes}, "
               "got shapes {} and {}")
    return _assert(tf.reduce_all(same), message, shapes)


def check_ids(tensor, name, count, meaning):
    """`tensor` once the graph has checked that its ids are in 0..count-1; `meaning` says
    where `count` comes from, e.g. "label_nc 35"."""
    low, high = tf.reduce_min(tensor), tf.reduce_max(tensor)
    message = f"{name}: ids must be in 0..{count - 1} ({meaning}), got ids {{}}..{{}}"
    # An empty map has no ids: its min and max are the dtype's extremes.
    valid = tf.logical_or(tf.equal(tf.size(tensor), 0), (low >= 0) & (high < count))
    return _after([_assert(valid, message, [low, high])], [tensor])[0]


def check_size_multiple(tensor, name, multiple, reason):
    """`tensor` (B, H, W, C) once the graph has checked that H and W are multiples of
    `multiple`; `reason` says why, e.g. "SPADE num_upsampling_layers=more"."""

    def valid(height, width):
        return tf.equal(height % multiple, 0) & tf.equal(width % multiple, 0)

    return _check_size(tensor, name, valid, f"multiples of {multiple}", reason)


def check_size(tensor, name, size, reason):
    """`tensor` (B, H, W, C) once the graph has checked that (H, W) is `size`."""

    def valid(height, width):
        return tf.equal(height, size[0]) & tf.equal(width, size[1])

    return _check_size(tensor, name, valid, f"{size[0]}x{size[1]}", reason)


def _check_size(tensor, name, valid, expected, reason):
    """`valid(height, width)` asserted, with a message saying H and W must be `expected`."""
    height, width = tf.shape(tensor)[1], tf.shape(tensor)[2]
    message = f"{name}: height and width must be {expected} ({reason}), got {{}}x{{}}"
    return _after([_assert(valid(height, width), message, [height, width])], [tensor])[0]


def _assert(valid, message, values):
    """An op raising `InvalidArgumentError` with `message` formatted with the tensors `values`
    (`{}` placeholders) when `valid` is False. The op backslash-escapes quotes: messages have
    none."""
    return tf.debugging.Assert(valid, [tf.strings.format(message, values)])


def _after(checks, tensors):
    """The tensors, computed only once `checks` have passed: no op sees a bad input and
    fails first with its own message."""
    with tf.control_dependencies(checks):
        return [tf.identity(tensor) for tensor in tensors]


def static_shape(layout):
    """A layout's static shape: its fixed sizes, None for the named and free ones."""
    return [size if isinstance(size, int) else None for size in layout]


def layout_text(layout):
    """A layout as text, e.g. "(B, H, W, 1)"."""
    return "(" + ", ".join("None" if size is None else str(size) for size in layout) + ")"


def _and_join(words):
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def main(argv):
    """`PRESET_FOLDER OUT [--quiet]`: the preset's model exported to `OUT`.
    `--describe MODEL PRESET [ARGUMENT=VALUE ...]`: prints the signatures of `preset_model`."""
    from keras_i2i.presets import load_preset

    if argv[0] == "--describe":
        print(signature_table(preset_model(*argv[1:])))
        return
    preset, out, *flags = argv
    load_preset(preset).export(out, verbose="--quiet" not in flags)


def preset_model(name, preset, *arguments):
    """The model the command line calls `name` (e.g. "spade") built from `preset` (a built-in
    name or a preset folder), `ARGUMENT=VALUE` arguments (JSON values: `use_vae=true`)
    replacing the preset's."""
    from keras_i2i.models.registry import get_model

    overrides = dict(argument.split("=", 1) for argument in arguments)
    return get_model(name).model_class.from_preset(
        preset, **{key: json.loads(value) for key, value in overrides.items()})


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

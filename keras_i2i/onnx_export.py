"""ONNX export of a model's serving endpoints, for ONNX Runtime (`keras-i2i export --format onnx`).

`export_onnx(model, folder)` writes each deterministic endpoint of `model.serving_endpoints()`
(the SavedModel's, see `keras_i2i.export`) as `folder/<endpoint>.onnx`. tf2onnx converts the
same endpoint function, traced with the inputs' layouts as shapes, so the ONNX model has the
SavedModel signature's named inputs (and dtypes) and outputs; the sizes a layout names ("B",
"H", "W", "N") are dynamic axes of that name, the fixed ones (channels, style sizes) static.

What the ONNX models do not do that the SavedModels do:

- Check their inputs beyond shapes and dtypes: ONNX has no assert, and tf2onnx drops the
  graph's checks (`check_inputs`, `check_ids`, ...), which feed no output. ONNX Runtime rejects
  an input of the wrong rank, dtype or fixed size, naming it. Other bad inputs are not
  rejected: ids out of range (labels, domains) silently give no class; a size that is not a
  multiple of the model's `size_multiple` gives a smaller image (SPADE, MUNIT: rounded down)
  or fails inside an op; so do inputs whose named sizes differ, with that op's message (a
  batch of 1 may broadcast). SPADE with the VAE makes `image_size` images from any size.
- Draw random styles: endpoints that sample (`sample_a2b`, SPADE's `translate` with the VAE,
  ...) are left out; their deterministic forms take the style as an input (`translate_a2b`
  with a `style` drawn from N(0, 1), `translate_with_style` with `z`).

The default opset is tf2onnx's newest, 18; for older runtimes every endpoint but pix2pixHD's
`translate` (its clusters picked by a hash: BitwiseXor, new in 18) converts to 17 too.
"""

import pathlib
from typing import NamedTuple

import tensorflow as tf

from keras_i2i.export import serving_input, static_shape
from keras_i2i.models import backend

DEFAULT_OPSET = 18
INSTALL_HINT = "ONNX export needs onnx and tf2onnx: pip install keras-i2i[onnx]"


class OnnxModel(NamedTuple):
    """An endpoint written as ONNX: its file, its inputs (`ServingInput`s: the axes their
    layouts name dynamic, None ones too, ints fixed) and the names of its outputs."""

    path: pathlib.Path
    inputs: list
    outputs: list


def export_onnx(model, folder, endpoints=None, opset=DEFAULT_OPSET):
    """Writes endpoints of `model` as ONNX files `folder/<endpoint>.onnx`.

    Args:
        model: a (built) keras-i2i model.
        folder: output folder, made if absent.
        endpoints: names of `model.serving_endpoints()` to write; default every one that
            draws no random numbers (naming one that does is an error).
        opset: the ONNX opset.

    Returns:
        `{endpoint: OnnxModel}` of the files written. An output is named as in the SavedModel,
        or `<name>_out` when an input has its name (ONNX names both alike): MUNIT's
        `translate_a2b` takes `image` and `style` and gives `image_out`.
    """
    if not backend.tensorflow():
        raise ValueError("ONNX export converts TensorFlow graphs: run it with KERAS_BACKEND="
                         "tensorflow (a preset folder saved under another backend loads there).")
    tf2onnx = import_tf2onnx()
    available = model.serving_endpoints()
    unknown = sorted(set(endpoints or ()) - set(available))
    if unknown:
        raise ValueError(f"{type(model).__name__} has no endpoint {', '.join(unknown)}; it has "
                         f"{', '.join(available)}.")
    traced = {name: _traced(*available[name]) for name in endpoints or available}
    sampling = [name for name, (function, _) in traced.items() if _draws_random_numbers(function)]
    if endpoints and sampling:
        raise ValueError(f"Endpoints that draw random styles are not exported to ONNX: "
                         f"{', '.join(sampling)} (those that take the styles as inputs are).")
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (function, inputs) in traced.items():
        if name not in sampling:
            written[name] = _convert(tf2onnx, function, inputs, folder / f"{name}.onnx", opset)
    return written


def _traced(function, inputs):
    """`(tf.function, [ServingInput, ...])`: `function` on the inputs' layouts, its outputs
    renamed `<name>_out` where an input has their name."""
    inputs = [serving_input(item) for item in inputs]
    specs = [tf.TensorSpec(static_shape(item.layout), item.dtype, name=item.name)
             for item in inputs]
    taken = {item.name for item in inputs}

    def renamed(*tensors):
        outputs = function(*tensors)
        return {f"{key}_out" if key in taken else key: value for key, value in outputs.items()}

    return tf.function(renamed, input_signature=specs), inputs


def _convert(tf2onnx, function, inputs, path, opset):
    """Writes the traced `function` as the ONNX file `path`; its `OnnxModel`."""
    proto, _ = tf2onnx.convert.from_function(function, function.input_signature, opset=opset)
    _name_dynamic_axes(proto, inputs)
    path.write_bytes(proto.SerializeToString())
    return OnnxModel(path, inputs, [output.name for output in proto.graph.output])


def import_tf2onnx():
    """The tf2onnx module; ImportError saying how to install it."""
    try:
        import tf2onnx
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return tf2onnx


def _draws_random_numbers(function):
    """Whether a `tf.function`'s graph (or a function it calls) has a random op."""
    definition = function.get_concrete_function().graph.as_graph_def()
    nodes = [*definition.node, *(n for f in definition.library.function for n in f.node_def)]
    return any("Random" in node.op for node in nodes)


def _name_dynamic_axes(proto, inputs):
    """Gives the input axes a layout names that name (`dim_param`), where tf2onnx wrote
    `unk__<n>`."""
    layouts = {item.name: item.layout for item in inputs}
    for graph_input in proto.graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        for dim, size in zip(dims, layouts[graph_input.name]):
            if isinstance(size, str):
                dim.dim_param = size

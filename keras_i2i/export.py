"""SavedModel export with explicit, named serving signatures (for TF Serving).

Each model lists its endpoints (`GANModel.serving_endpoints`): a function taking named tensors
and returning a dict of named tensors, with an input signature of named `tf.TensorSpec`s. The
first endpoint is also the SavedModel's `serving_default`.
"""

import keras


def export_saved_model(model, filepath, endpoints, verbose=True):
    """Writes `model` to `filepath` as a SavedModel with the given endpoints.

    Args:
        model: the (built) model whose variables the endpoints use.
        filepath: output folder.
        endpoints: `{name: (function, [tf.TensorSpec(..., name=...), ...])}`; the functions
            take the specs' tensors as arguments named like the specs and return a dict of
            output tensors.
        verbose: print the endpoints written.
    """
    if not endpoints:
        raise ValueError(f"{type(model).__name__} defines no serving endpoints to export.")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, signature) in endpoints.items():
        archive.add_endpoint(name, function, input_signature=signature)
    archive.write_out(filepath, verbose=verbose)
    return filepath

"""`keras.applications` networks with ImageNet weights (the VGG of the perceptual losses,
Keras's InceptionV3 for FID): where Keras caches their files, and one line saying what to do
when the weights are neither cached nor downloadable (offline)."""

import os

# Where `keras.applications` downloads its weights files from.
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/{folder}/{file}"


def cached_weights(file):
    """Where Keras caches a downloaded weights file: `$KERAS_HOME/models` (default
    `~/.keras/models`)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", file)


def with_imagenet_weights(build, weights, network, file, folder, instead):
    """`build()`, a `keras.applications` constructor called with `weights`. When it fails
    for `"imagenet"` weights that are not cached (Keras raises a bare `Exception` when the
    download fails), a one-line `ValueError`: `network` needs `file` (downloaded from
    `WEIGHTS_URL`'s `folder`), where to put it, or `instead`."""
    try:
        return build()
    except Exception as error:
        cached = cached_weights(file)
        if weights != "imagenet" or os.path.isfile(cached):
            raise
        raise ValueError(
            f"{network} needs Keras's ImageNet weights {file}, which are not in "
            f"{os.path.dirname(cached)} and could not be downloaded ({error}). Put the file "
            f"there (from {WEIGHTS_URL.format(folder=folder, file=file)}), or {instead}."
        ) from None

"""Losses of the reference implementations (SPADE, pix2pixHD, MUNIT, DRIT++), in float32.

Discriminator outputs are taken as the multi-scale discriminators return them: a list over
scales of lists of feature maps (the last one is the patch prediction), or a list over
scales of predictions, or a single prediction. Every loss is a mean over the local batch
(the KL divergence a sum, as in SPADE); under `tf.distribute` the caller scales by the
number of replicas.
"""

import os

import keras
from keras import ops

from keras_i2i.applications import with_imagenet_weights
from keras_i2i.layers.normalization import instance_normalize

GAN_MODES = ("hinge", "lsgan", "nsgan")
SCALE_REDUCTIONS = ("mean", "sum")



def absolute(x):
    """|x|, whose gradient is sign(x): 0 at 0, as PyTorch's and TensorFlow's `abs` (JAX's is
    1 there). L1 losses between ReLU features compare many exact zeros, so the reference's
    gradients need it."""
    return x * ops.sign(x)


def _predictions(outputs):
    """Multi-scale discriminator output -> list of per-scale predictions, as float32."""
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [ops.cast(o[-1] if isinstance(o, (list, tuple)) else o, "float32") for o in outputs]


def _over_scales(losses, scale_reduction):
    if scale_reduction not in SCALE_REDUCTIONS:
        raise ValueError(
            f"scale_reduction must be one of {SCALE_REDUCTIONS}, got {scale_reduction!r}"
        )
    total = sum(losses)
    return total / len(losses) if scale_reduction == "mean" else total


def _adversarial_term(prediction, target_is_real, for_discriminator, gan_mode, sample_weight):
    """One scale's loss (SPADE's `GANLoss.loss`)."""
    if gan_mode == "lsgan":
        term = ops.square(prediction - (1.0 if target_is_real else 0.0))
    elif gan_mode == "nsgan":  # binary cross-entropy with logits
        term = ops.softplus(-prediction if target_is_real else prediction)
    elif gan_mode == "hinge":
        if not for_discriminator:
            term = -prediction
        else:
            term = ops.relu(1.0 - prediction if target_is_real else 1.0 + prediction)
    else:
        raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}")
    return weighted_mean(term, sample_weight)


def weighted_mean(x, sample_weight=None):
    """The mean of `x` (B, ...); with `sample_weight` (B,), the samples' means averaged with
    those weights (0 when every weight is 0: a batch of padding contributes nothing)."""
    if sample_weight is None:
        return ops.mean(x)
    per_sample = ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=1)
    weight = ops.cast(sample_weight, "float32")
    return ops.sum(per_sample * weight) / ops.maximum(ops.sum(weight), 1e-8)


def l1(x, y, sample_weight=None):
    """mean|x - y| in float32, the samples weighted by `sample_weight` (B,) if given
    (`weighted_mean`)."""
    return weighted_mean(absolute(ops.cast(x, "float32") - ops.cast(y, "float32")), sample_weight)


def discriminator_adversarial_loss(
    real_outputs, fake_outputs, gan_mode="hinge", scale_reduction="mean",
    real_weight=None, fake_weight=None,
):
    """The discriminator's adversarial loss on real and on generated inputs.

    Per scale: `lsgan` `mean((real - 1)^2)`, `mean(fake^2)`; `hinge` `mean(relu(1 - real))`,
    `mean(relu(1 + fake))`; `nsgan` binary cross-entropy with logits against 1 and 0.
    The scales are averaged (`scale_reduction="mean"`, SPADE) or summed (`"sum"`,
    pix2pixHD and MUNIT; pix2pixHD then halves real + fake). `real_weight`, `fake_weight`
    (B,): per-sample weights of the means (`weighted_mean`; INIT's padded object crops).

    Returns:
        `(real_loss, fake_loss)`, float32 scalars.
    """
    real = [_adversarial_term(p, True, True, gan_mode, real_weight)
            for p in _predictions(real_outputs)]
    fake = [_adversarial_term(p, False, True, gan_mode, fake_weight)
            for p in _predictions(fake_outputs)]
    return _over_scales(real, scale_reduction), _over_scales(fake, scale_reduction)


def generator_adversarial_loss(fake_outputs, gan_mode="hinge", scale_reduction="mean",
                               sample_weight=None):
    """The generator's adversarial loss: per scale `lsgan` `mean((fake - 1)^2)`, `hinge`
    `-mean(fake)`, `nsgan` `mean(softplus(-fake))` (non-saturating); scales reduced as in
    `discriminator_adversarial_loss`, samples weighted by `sample_weight` (B,) if given.
    Returns a float32 scalar."""
    terms = [_adversarial_term(p, True, False, gan_mode, sample_weight)
             for p in _predictions(fake_outputs)]
    return _over_scales(terms, scale_reduction)


def feature_matching_loss(real_outputs, fake_outputs, weighting="spade"):
    """L1 between the discriminator's intermediate features of real and generated inputs.

    Every feature but each scale's last (the prediction) contributes
    `weight * mean|real - fake|`, the real features taken as constants, with `weight`
    `1 / num_D` (`weighting="spade"`) or `4 / n_features * 1 / num_D` (`"pix2pixhd"`, whose
    `4 / (n_layers_D + 1)` divides by the number of intermediate features per scale). The
    model multiplies by its `lambda_feat`. Returns a float32 scalar.
    """
    if weighting not in ("spade", "pix2pixhd"):
        raise ValueError(f"weighting must be 'spade' or 'pix2pixhd', got {weighting!r}")
    total = 0.0
    for real, fake in zip(real_outputs, fake_outputs):
        weight = 1.0 / len(fake_outputs)
        if weighting == "pix2pixhd":
            weight *= 4.0 / (len(fake) - 1)
        for r, f in zip(real[:-1], fake[:-1]):
            r = ops.stop_gradient(ops.cast(r, "float32"))
            total += weight * ops.mean(absolute(r - ops.cast(f, "float32")))
    return total


def kl_divergence_loss(mu, logvar):
    """SPADE's `KLDLoss`: `-0.5 * sum(1 + logvar - mu^2 - exp(logvar))`, summed over the
    batch and the latent dimensions (not averaged). Returns a float32 scalar."""
    mu, logvar = ops.cast(mu, "float32"), ops.cast(logvar, "float32")
    return -0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar))


def latent_regression_loss(z, z_reconstructed):
    """DRIT++'s latent regression: `mean|z_reconstructed - z|`. Returns a float32 scalar."""
    return ops.mean(absolute(ops.cast(z_reconstructed, "float32") - ops.cast(z, "float32")))


def mode_seeking_loss(images_1, images_2, z_1, z_2, epsilon=1e-5):
    """DRIT++ / MSGAN mode seeking: `1 / (mean|G(z_2) - G(z_1)| / mean|z_2 - z_1| + epsilon)`.

    Args:
        images_1, images_2: images generated from the latents `z_1`, `z_2`.
    Returns a float32 scalar.
    """
    image_distance = ops.mean(
        absolute(ops.cast(images_2, "float32") - ops.cast(images_1, "float32"))
    )
    latent_distance = ops.mean(absolute(ops.cast(z_2, "float32") - ops.cast(z_1, "float32")))
    return 1.0 / (image_distance / latent_distance + epsilon)


VGG_PREPROCESSING = ("caffe", "torch", "none")
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def vgg_preprocess(images, preprocessing="caffe"):
    """[-1, 1] RGB images -> VGG input, float32.

    - `"caffe"` (Keras's ImageNet weights, `keras.applications.vgg19.preprocess_input`):
      [0, 255], RGB -> BGR, minus the ImageNet mean.
    - `"torch"` (torchvision's weights): [0, 1], minus the ImageNet mean, divided by its std.
    - `"none"`: unchanged.
    """
    x = ops.cast(images, "float32")
    if preprocessing == "caffe":
        return (ops.flip(x, axis=-1) + 1.0) * 127.5 - ops.convert_to_tensor(_CAFFE_MEAN_BGR)
    if preprocessing == "torch":
        return ((x + 1.0) / 2.0 - ops.convert_to_tensor(_IMAGENET_MEAN)) / ops.convert_to_tensor(
            _IMAGENET_STD
        )
    return x


VGG_NETWORKS = ("vgg19", "vgg16")
VGG_DISTANCES = ("l1", "mse")


_VGG_WEIGHTS_FILE = "{network}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _vgg_without_top(network, weights):
    """`keras.applications`' VGG19 or VGG16 without its top, in float32 whatever the policy.

    Errors say how to proceed: a `weights` path that is no file, or ImageNet weights neither
    cached nor downloadable (offline), raise a one-line `ValueError`.
    """
    if weights not in ("imagenet", None) and not os.path.isfile(weights):
        raise ValueError(f"VGG weights file {weights} does not exist (vgg_weights: 'imagenet', "
                         f"None or the path of a {network} weights file without top).")
    application = keras.applications.VGG19 if network == "vgg19" else keras.applications.VGG16
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        return with_imagenet_weights(
            lambda: application(include_top=False, weights=weights, input_shape=(None, None, 3)),
            weights, f"The {network.upper()} of the perceptual loss",
            _VGG_WEIGHTS_FILE.format(network=network), network,
            "pass a local weights file (the models' vgg_weights argument; on the command line "
            "--vgg-weights PATH), or turn the loss off (lambda_vgg=0, MUNIT vgg_weight=0; on "
            "the command line --lambda-vgg 0)")
    finally:
        keras.config.set_dtype_policy(policy)


class VGGPerceptualLoss:
    """Distances between frozen VGG features of generated and real images.

    `sum_i w_i * distance(f_i(fake), f_i(real))`, `distance` the mean absolute (`"l1"`) or
    mean squared (`"mse"`) difference, the real features taken as constants. The defaults
    are pix2pixHD's / SPADE's `VGGLoss`: VGG19's relu1_1 ... relu5_1 (`block{i}_conv1`) with
    weights 1/32, 1/16, 1/8, 1/4, 1, L1. MUNIT's domain-invariant perceptual loss is
    `network="vgg16", layers=("block5_conv3",), layer_weights=(1.0,), distance="mse",
    instance_normalize=True, skip_layers=("block4_pool",)`: relu5_3 of a VGG16 without the
    pooling after relu4_3 (MUNIT's `Vgg16` has none), features instance-normalized.

    The VGG is frozen and runs in float32 whatever the dtype policy. Not a Keras layer, so a
    model holding it does not save it.

    Images are in [-1, 1]; `preprocessing` maps them to the input the weights expect (see
    `vgg_preprocess`): `"caffe"` (default) for Keras's ImageNet weights (MUNIT's VGG16 takes
    the same), `"torch"` for weights converted from torchvision, `"none"` to feed the
    [-1, 1] images unchanged as pix2pixHD and SPADE do (with torchvision-converted weights
    this reproduces them exactly).

    Args:
        weights: `"imagenet"`, None (random initialization, for tests) or a path to a
            `.h5` / `.weights.h5` file of the network's (no top) weights. Offline, ImageNet
            weights not in Keras's cache raise a `ValueError` saying how to proceed.
        preprocessing: `"caffe"`, `"torch"` or `"none"`.
        network: `"vgg19"` or `"vgg16"` (`keras.applications`).
        layers: names of the Keras VGG layers whose outputs are compared.
        layer_weights: one weight per layer.
        distance: `"l1"` or `"mse"`.
        instance_normalize: instance-normalize each feature map (per sample and channel,
            eps 1e-5) before the distance.
        skip_layers: Keras VGG layers left out of the network.

    Call: `loss(real, fake)` with (B, H, W, 3) images -> float32 scalar.
    """

    LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
    LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(
        self,
        weights="imagenet",
        preprocessing="caffe",
        network="vgg19",
        layers=LAYERS,
        layer_weights=LAYER_WEIGHTS,
        distance="l1",
        instance_normalize=False,
        skip_layers=(),
    ):
        for name, value, allowed in (
            ("preprocessing", preprocessing, VGG_PREPROCESSING),
            ("network", network, VGG_NETWORKS),
            ("distance", distance, VGG_DISTANCES),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if len(layers) != len(layer_weights):
            raise ValueError(
                f"layer_weights must give one weight per layer: {len(layers)} layers, "
                f"{len(layer_weights)} weights"
            )
        self.preprocessing = preprocessing
        self.layer_weights = tuple(layer_weights)
        self.distance = distance
        self.instance_normalize = instance_normalize
        vgg = _vgg_without_top(network, weights)
        names = [layer.name for layer in vgg.layers[1:]]
        unknown = sorted(set(layers) - set(names)) + sorted(set(skip_layers) - set(names))
        if unknown:
            raise ValueError(f"{network} has no layers {unknown}; its layers: {names}")
        x, outputs = vgg.input, {}
        for layer in vgg.layers[1:]:
            if layer.name not in skip_layers:
                x = outputs[layer.name] = layer(x)
        self.vgg = keras.Model(
            vgg.input, [outputs[name] for name in layers], name=f"{network}_features"
        )
        self.vgg.trainable = False

    def features(self, images):
        """The compared feature maps (`layers`) of [-1, 1] images."""
        return self.vgg(vgg_preprocess(images, self.preprocessing), training=False)

    def __call__(self, real, fake):
        batch = ops.shape(fake)[0]
        total = 0.0
        images = ops.concatenate([ops.cast(fake, "float32"), ops.cast(real, "float32")], axis=0)
        features = self.features(images)
        if not isinstance(features, (list, tuple)):
            features = [features]
        for weight, feature in zip(self.layer_weights, features):
            if self.instance_normalize:
                feature = instance_normalize(feature)
            difference = feature[:batch] - ops.stop_gradient(feature[batch:])
            distance = absolute(difference) if self.distance == "l1" else ops.square(difference)
            total += weight * ops.mean(distance)
        return total

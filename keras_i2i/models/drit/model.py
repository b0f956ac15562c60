"""DRIT / DRIT++: the model, its losses and its training step (HsinYingLee/DRIT's `DRIT`).

Two domains, a and b. Per domain a content encoder branch (the last residual block shared)
and an attribute encoder; one generator with a branch per domain; per domain two image
discriminators (`discriminator_a` for translations with encoded attributes, `discriminator_a2`
for those with random ones, the reference's `disA` / `disA2`); one content discriminator that
tells the domains' content codes apart.

A training step is one cycle of the reference's content-discriminator rhythm (`d_iter`
iterations of its loader): the batch (B = 2 * d_iter * n samples per domain) is cut into
`d_iter` parts in order; each of the first `d_iter - 1` parts updates the content
discriminator alone, on the codes of its first half (`update_D_content`); the last part
updates everything (`update_D`, then `update_EG`): its first half is translated with encoded
attributes, its second half serves as real images for the random-attribute discriminators.
So a step counts as the reference counts iterations (`total_it`), and the reference's
batch of 2 is `batch_size = 2 * d_iter` here (6 by default).

Losses of the full update, with the reference's weights (binary cross-entropy GAN losses,
each discriminator's summed over its scales):

- discriminators: real vs translations with encoded (`discriminator_*`) and random
  (`discriminator_*2`, twice with mode seeking: one per random draw) attributes; the content
  discriminator: content codes of b (1) vs a (0), its gradient clipped to norm 5;
- encoders and generator (`update_EG`, first step): GAN losses of the encoded-attribute
  translations and content GAN loss (both domains' codes towards 0.5), `lambda_rec` * L1 of
  the cross-cycle reconstruction and of the self-reconstruction, 0.01 * KL of the attributes
  (VAE encoder; mean square of the attributes otherwise) and 0.01 * mean square of the
  content codes;
- content encoder and generator (`update_EG`, second step, gradients taken before the first
  step as in the reference's retained graph): GAN losses of the random-attribute
  translations, `lambda_latent` * L1 latent regression of the random attributes, and with
  mode seeking (DRIT++) `1 / (mean|G(z1) - G(z2)| / mean|z1 - z2| + 1e-5)` per direction.

Adam (0.5, 0.999) with PyTorch's coupled weight decay 1e-4 for every network, learning rate
1e-4 (content discriminator 1e-4 / 2.5); the reference decays linearly over its last
`n_ep - n_ep_decay` epochs (`keras-i2i train` does, see `registry`).
"""

import secrets

import keras
import numpy as np
from keras import ops

from keras_i2i.losses import (
    l1,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    kl_divergence_loss,
    latent_regression_loss,
    mode_seeking_loss,
)
from keras_i2i.models.base import GANModel
from keras_i2i.models.discriminators import ContentDiscriminator
from keras_i2i.layers import Conv2D
from keras_i2i.models.discriminators import GAUSSIAN_INITIALIZER
from keras_i2i.models.drit.discriminators import (
    domain_discriminator,
    low_resolution_discriminator,
)
from keras_i2i.models.drit.encoders import AttributeEncoder, ContentEncoder
from keras_i2i.models.drit.generator import Generator

DOMAINS = ("a", "b")


def mean_square(x):
    """The reference's `_l2_regularize`: mean(x^2) in float32."""
    return ops.mean(ops.square(ops.cast(x, "float32")))


def binary_cross_entropy(logits, target):
    """mean of PyTorch's `binary_cross_entropy(sigmoid(logits), target)`, for a constant
    target in [0, 1] (0.5 for the content GAN loss)."""
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.softplus(logits) - target * logits)


def reparameterized(mu, logvar, eps):
    """`eps * exp(logvar / 2) + mu`."""
    return ops.cast(eps, mu.dtype) * ops.exp(0.5 * logvar) + mu


def with_noise(model, content):
    """`content` + N(0, 1) drawn from `model`'s seed generator (`GANModel.random_normal`):
    the reference's `GaussianNoiseLayer` on content codes in training."""
    noise = model.random_normal(ops.shape(content), model.seed_generator)
    return content + ops.cast(noise, content.dtype)


def rhythm_parts(images, parts, model_name):
    """The batch cut into `parts` equal parts in order, each as its two halves:
    `[(first half, second half), ...]`; the batch size must be known and divisible."""
    batch = images.shape[0]
    if batch is None or batch % (2 * parts):
        raise ValueError(f"{model_name}'s batch must be a multiple of {2 * parts} (2 per "
                         f"iteration, d_iter iterations a step), of a size known when tracing "
                         f"(batch with drop_remainder=True), got {batch}")
    half = batch // (2 * parts)
    return [(images[(2 * i) * half:(2 * i + 1) * half],
             images[(2 * i + 1) * half:(2 * i + 2) * half]) for i in range(parts)]


def adam_optimizers(model, groups):
    """Adam (`beta_1`, `beta_2`, epsilon 1e-8) per group at `learning_rate`; the
    `"content_discriminator"` at `content_learning_rate`, its gradient norm clipped to
    `content_clipnorm` (the reference's `clip_grad_norm_`)."""
    def adam(group, rate, **options):
        return keras.optimizers.Adam(rate, model.beta_1, model.beta_2, epsilon=1e-8,
                                     name=f"{group}_adam", **options)

    return {group: adam(group, model.content_learning_rate,
                        global_clipnorm=model.content_clipnorm or None)
            if group == "content_discriminator" else adam(group, model.learning_rate)
            for group in groups}


def attribute_codes(attributes, batch, attribute_dim, num_attributes, seed):
    """The attributes of `translate`: given ones, (B or 1, attribute_dim), broadcast to the
    batch, or `num_attributes` (1 when None) N(0, 1) draws per input from `seed`. Returns
    float32 numpy (B * k, attribute_dim) and k."""
    k = 1 if num_attributes is None else num_attributes
    if k < 1:
        raise ValueError(f"num_attributes must be a positive int, got {num_attributes}")
    if attributes is None:
        return np.random.default_rng(seed).standard_normal(
            (batch * k, attribute_dim)).astype("float32"), k
    attributes = np.asarray(attributes, "float32")
    if attributes.ndim != 2 or attributes.shape[1] != attribute_dim or len(attributes) not in (
            1, batch):
        raise ValueError(f"attributes must be ({batch} or 1, {attribute_dim}), got shape "
                         f"{attributes.shape}")
    return np.broadcast_to(attributes, (batch, attribute_dim)), k


def exclusive(**choices):
    """ValueError when more than one of the keyword arguments is given (not None)."""
    given = [name for name, value in choices.items() if value is not None]
    if len(given) > 1:
        raise ValueError(f"Pass at most one of {', '.join(choices)}; got {', '.join(given)}.")


@keras.saving.register_keras_serializable(package="keras_i2i")
class DRIT(GANModel):
    """Diverse image-to-image translation via disentangled representations (Lee et al., ECCV
    2018; DRIT++, IJCV 2020).

    Data: unpaired batches `{"image_a": float32 (B, H, W, channels_a), "image_b": float32
    (B, H, W, channels_b)}` in [-1, 1] (`keras_i2i.data.unpaired`,
    `keras_i2i.data.synthetic.unpaired`), B a multiple of `2 * d_iter` (see the module), H and
    W multiples of 4 and at least `min_size` (the content discriminator's input).

    Inference:
        - `translate(images, target_domain="b", num_attributes=k, seed=s)`: k random
          attributes per input; `translate(images, "b", attribute_images=...)`: the
          attributes of example images of the target domain; `attributes=...`: given codes.
        - `encode(images, "a")` -> `(content, attribute)` (the attribute's mean for the VAE
          encoder), `decode(content, attribute, "b")`.
        - `model(images_a)` translates a -> b with random attributes; `model({"image_a",
          "image_b"})` gives `{"image_ab", "image_ba"}`.
        - `export(path)`: `sample_a2b` / `sample_b2a` (image -> image, random attribute),
          `translate_a2b` / `translate_b2a` (image and attribute -> image),
          `encode_attribute_a` / `encode_attribute_b` (image -> attribute).

    Args (the reference's option names in parentheses):
        channels_a, channels_b: image channels per domain (`input_dim_a`, `input_dim_b`).
        width: the networks' base width (64 in the reference; its 256 is `4 * width`).
        attribute_dim: attribute size (`nz`, 8).
        concat: True: VAE attribute encoder and the generator that concatenates the attribute
            (`--concat 1`); False: deterministic encoder and the MLP generator (`--concat 0`).
        dis_scale: image discriminator scales; 1 is the single-scale `Dis` (`dis_scale`).
        dis_norm, dis_spectral_norm: the image discriminators' (`dis_norm`,
            `dis_spectral_norm`; the reference never applies its norm).
        content_dis_kernel_size, content_dis_layers: the content discriminator's strided
            convolutions (7, 3 in the reference, for content codes of 53 to 60 pixels: images
            of 209 to 240); smaller ones make it fit small images (the synthetic preset).
        mode_seeking: DRIT++'s mode-seeking loss and second random draw (not `--no_ms`).
        low_resolution: DRIT++'s multi-scale generator-discriminator for high resolutions
            (the paper's; the reference code does not ship it): the generator's feature maps
            entering its two up-sampling blocks also become images of 1/4 and 1/2 the
            resolution (a 1 x 1 convolution and tanh each, `image_heads`), which their own
            discriminators per domain (`low_resolution_discriminators`, one scale of three
            layers) tell from the real images average-pooled to that resolution: an added
            GAN loss (`g_gan_low`) on the encoded-attribute translations, both ways.
        d_iter: iterations per content-discriminator cycle (`d_iter`).
        lambda_rec, lambda_kl, lambda_latent: weights of the reconstruction L1s (10), the
            attribute and content regularizers (0.01) and the latent regression (10).
        learning_rate, content_learning_rate, beta_1, beta_2, weight_decay: Adam's (1e-4, 1e-4
            / 2.5, 0.5, 0.999, 1e-4 coupled as in PyTorch).
        content_clipnorm: gradient-norm clipping of the content discriminator (5).
        n_ep, n_ep_decay: the reference's epochs and the epoch its linear decay starts
            (`keras-i2i train` uses them as its default `--epochs` and `--decay-epochs`).
        seed: seed of the random attributes and noise (drawn at random when None).

    Groups: `"content_encoder"`, `"attribute_encoder"`, `"generator"`, `"discriminator"`
    (the four image discriminators), `"content_discriminator"`.
    """

    def __init__(
        self,
        channels_a=3,
        channels_b=3,
        width=64,
        attribute_dim=8,
        concat=True,
        dis_scale=3,
        dis_norm="none",
        dis_spectral_norm=False,
        content_dis_kernel_size=7,
        content_dis_layers=3,
        mode_seeking=True,
        low_resolution=False,
        d_iter=3,
        lambda_rec=10.0,
        lambda_kl=0.01,
        lambda_latent=10.0,
        learning_rate=1e-4,
        content_learning_rate=1e-4 / 2.5,
        beta_1=0.5,
        beta_2=0.999,
        weight_decay=1e-4,
        content_clipnorm=5.0,
        n_ep=1200,
        n_ep_decay=600,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if d_iter < 1:
            raise ValueError(f"d_iter must be a positive int, got {d_iter}")
        self.channels_a = channels_a
        self.channels_b = channels_b
        self.width = width
        self.attribute_dim = attribute_dim
        self.concat = concat
        self.dis_scale = dis_scale
        self.dis_norm = dis_norm
        self.dis_spectral_norm = dis_spectral_norm
        self.content_dis_kernel_size = content_dis_kernel_size
        self.content_dis_layers = content_dis_layers
        self.mode_seeking = mode_seeking
        self.low_resolution = low_resolution
        self.d_iter = d_iter
        self.lambda_rec = lambda_rec
        self.lambda_kl = lambda_kl
        self.lambda_latent = lambda_latent
        self.learning_rate = learning_rate
        self.content_learning_rate = content_learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.weight_decay = weight_decay
        self.content_clipnorm = content_clipnorm
        self.n_ep = n_ep
        self.n_ep_decay = n_ep_decay
        self.seed = secrets.randbelow(2**31) if seed is None else seed

        channels = (channels_a, channels_b)
        policy = dict(dtype=self.dtype_policy)
        self.content_encoder = ContentEncoder(channels, width, name="content_encoder", **policy)
        self.attribute_encoder = AttributeEncoder(
            channels, attribute_dim, width, variational=concat, name="attribute_encoder",
            **policy)
        self.generator = Generator(
            channels, width, attribute_dim, concat=concat, name="generator", **policy)
        discriminator = dict(width=width, num_scales=dis_scale, norm=dis_norm,
                             spectral_norm=dis_spectral_norm, **policy)
        self.discriminator_a = domain_discriminator(name="discriminator_a", **discriminator)
        self.discriminator_b = domain_discriminator(name="discriminator_b", **discriminator)
        self.discriminator_a2 = domain_discriminator(name="discriminator_a2", **discriminator)
        self.discriminator_b2 = domain_discriminator(name="discriminator_b2", **discriminator)
        self.content_discriminator = ContentDiscriminator(
            width, kernel_size=content_dis_kernel_size, num_strided=content_dis_layers,
            name="content_discriminator", **policy)
        # Per domain, for the 1/4 and the 1/2 resolution (`low_resolution`).
        self.image_heads = [[Conv2D(c, 1, kernel_initializer=GAUSSIAN_INITIALIZER,
                                    name=f"image_head_{d}{k}", **policy) for k in range(2)]
                            for d, c in zip(DOMAINS, channels) if low_resolution]
        self.low_resolution_discriminators = [
            [low_resolution_discriminator(width, dis_spectral_norm, name=f"low_resolution_{d}{k}",
                                          **policy) for k in range(2)]
            for d in DOMAINS if low_resolution]
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="seed_generator")
        self.build()

    # ---------------------------------------------------------------- networks

    size_multiple = 4
    """H and W must be multiples of 4 (the content encoder's two stride-2 convolutions)."""

    @property
    def min_size(self):
        """The smallest H and W the content discriminator takes (4x its input's)."""
        return 4 * self.content_discriminator.min_input_size

    @property
    def default_batch_size(self):
        """The reference's batch of 2 for each of the `d_iter` iterations of a step."""
        return 2 * self.d_iter

    def build_networks(self):
        # Large enough for the content discriminator and for every reflect padding of the
        # image discriminators' coarsest scale (its last layer's input 2 x 2).
        scales = 64 if self.dis_scale == 1 else 16 * 2 ** (self.dis_scale - 1)
        size = max(self.min_size + (-self.min_size) % 4, scales)
        for branch, channels in enumerate((self.channels_a, self.channels_b)):
            images = ops.zeros((1, size, size, channels))
            content = self.content_encoder(images, branch=branch)
            attribute = self._attribute(images, branch)
            features = self.generator(content, attribute, branch=branch, return_features=True)
            self._discriminators(branch)[0](images)
            self._discriminators(branch)[1](images)
            if self.low_resolution:
                for k, low in enumerate(self._low_resolution_images(features[:2], branch)):
                    self.low_resolution_discriminators[branch][k](low)
        self.content_discriminator(content)

    def _low_resolution_images(self, features, branch):
        """The images of 1/4 and 1/2 the resolution made from the generator's feature maps
        entering its up-sampling blocks (`low_resolution`)."""
        return [ops.tanh(head(f)) for head, f in zip(self.image_heads[branch], features)]

    def _discriminators(self, branch):
        if branch == 0:
            return self.discriminator_a, self.discriminator_a2
        return self.discriminator_b, self.discriminator_b2

    def optimizer_groups(self):
        return {
            "content_encoder": self.content_encoder.trainable_variables,
            "attribute_encoder": self.attribute_encoder.trainable_variables,
            "generator": self.generator.trainable_variables
            + [v for heads in self.image_heads for h in heads for v in h.trainable_variables],
            "discriminator": [v for branch in (0, 1) for d in self._discriminators(branch)
                              for v in d.trainable_variables]
            + [v for ds in self.low_resolution_discriminators for d in ds
               for v in d.trainable_variables],
            "content_discriminator": self.content_discriminator.trainable_variables,
        }

    def default_optimizers(self):
        return adam_optimizers(self, self.optimizer_groups())

    def loss_names(self):
        names = ["d_loss", "d_content", "g_gan", "g_gan_content", "cross_cycle", "self_recon",
                 "kl_attribute", "kl_content", "g_gan_random", "latent"]
        if self.mode_seeking:
            names.append("mode_seeking")
        if self.low_resolution:
            names.append("g_gan_low")
        return names

    # ---------------------------------------------------------------- inference

    def _branch(self, domain):
        if domain not in DOMAINS:
            raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
        return DOMAINS.index(domain)

    def _attribute(self, images, branch, eps=None, training=False):
        """The attribute code (B, attribute_dim): the VAE's sample with noise `eps` (its mean
        without), or the deterministic encoder's output."""
        if not self.concat:
            return self.attribute_encoder(images, branch=branch, training=training)
        mu, logvar = self.attribute_encoder(images, branch=branch, training=training)
        return mu if eps is None else reparameterized(mu, logvar, eps)

    def encode(self, images, domain="a"):
        """`(content, attribute)` of images of `domain`: content (B, H / 4, W / 4, 4 width),
        attribute (B, attribute_dim) (the VAE's mean)."""
        branch = self._branch(domain)
        return (self.content_encoder(images, branch=branch),
                self._attribute(images, branch))

    def decode(self, content, attribute, domain="b"):
        """Images of `domain` (B, 4 h, 4 w, channels) in [-1, 1]."""
        return self.generator(content, attribute, branch=self._branch(domain))

    def random_attributes(self, batch):
        """N(0, 1) attributes (B, attribute_dim) from the model's seed generator."""
        return self.random_normal((batch, self.attribute_dim), self.seed_generator)

    def _translate(self, images, target_domain, attribute=None):
        target = self._branch(target_domain)
        if attribute is None:
            attribute = self.random_attributes(ops.shape(images)[0])
        content = self.content_encoder(images, branch=1 - target)
        return ops.cast(self.generator(content, attribute, branch=target), "float32")

    def call(self, inputs, training=False):
        """Translations with random attributes: images of domain a (B, H, W, channels_a) ->
        b; a dict with `"image_a"` and/or `"image_b"` -> `{"image_ab", "image_ba"}`."""
        if not isinstance(inputs, dict):
            return self._translate(inputs, "b")
        outputs = {}
        if "image_a" in inputs:
            outputs["image_ab"] = self._translate(inputs["image_a"], "b")
        if "image_b" in inputs:
            outputs["image_ba"] = self._translate(inputs["image_b"], "a")
        return outputs

    def translate(self, images, target_domain="b", num_attributes=None, seed=None,
                  attribute_images=None, attributes=None):
        """Translates images of the other domain into `target_domain`.

        Args:
            images: (B, H, W, C) in [-1, 1] of the source domain (the one that is not
                `target_domain`), H and W multiples of 4.
            target_domain: `"a"` or `"b"`.
            num_attributes: k random N(0, 1) attributes per input; the output gets an axis.
            seed: int seed of the random attributes.
            attribute_images: (B or 1, H', W', C') images of the target domain whose
                attributes are used (the VAE's mean), one per input or one for all.
            attributes: (B or 1, attribute_dim) attribute codes.

        Returns:
            float32 numpy (B, H, W, C_target), or (B, k, H, W, C_target) with
            `num_attributes`.
        """
        target = self._branch(target_domain)
        images = self._check_images(images, 1 - target, "images")
        exclusive(num_attributes=num_attributes, attribute_images=attribute_images,
                  attributes=attributes)
        if attribute_images is not None:
            attribute_images = self._check_images(attribute_images, target, "attribute_images")
            attributes = ops.convert_to_numpy(self._attribute(attribute_images, target))
        attributes, k = attribute_codes(attributes, len(images), self.attribute_dim,
                                        num_attributes, seed)
        content = self.content_encoder(images, branch=1 - target)
        if k > 1:
            content = ops.repeat(content, k, axis=0)
        outputs = ops.convert_to_numpy(ops.cast(
            self.generator(content, attributes, branch=target), "float32"))
        return outputs.reshape(len(images), k, *outputs.shape[1:]) if num_attributes else outputs

    def _check_images(self, images, branch, what):
        images = np.asarray(images, "float32")
        channels = (self.channels_a, self.channels_b)[branch]
        if (images.ndim != 4 or images.shape[-1] != channels or images.shape[1] % 4
                or images.shape[2] % 4 or images.shape[1] == 0):
            raise ValueError(
                f"{what} of domain {DOMAINS[branch]} must be (B, H, W, {channels}) with H and "
                f"W multiples of 4, got shape {images.shape}")
        return images

    def sample_columns(self, batch):
        """Progress grid: per domain its input, its translation with a random attribute, and
        its self-reconstruction."""
        columns = {}
        for source, target in (("a", "b"), ("b", "a")):
            images = batch[f"image_{source}"]
            columns[source] = images
            columns[f"{source}2{target}"] = self._translate(images, target)
            columns[f"{source} recon"] = self.decode(*self.encode(images, source), source)
        return columns

    # ---------------------------------------------------------------- training

    def train_batch(self, data):
        """`d_iter - 1` content-discriminator updates and one full update (see the module)."""
        if "image_a" not in data or "image_b" not in data:
            raise ValueError(f"DRIT trains on {{'image_a', 'image_b'}} batches, got "
                             f"{sorted(data)}")
        for key in ("image_a", "image_b"):
            height, width = data[key].shape[1:3]
            if min(height, width) < self.min_size:
                raise ValueError(
                    f"DRIT's content discriminator (content_dis_kernel_size "
                    f"{self.content_dis_kernel_size}, content_dis_layers "
                    f"{self.content_dis_layers}) needs training images of at least "
                    f"{self.min_size}x{self.min_size}, got {key} of {height}x{width}")
        parts = [rhythm_parts(data[key], self.d_iter, "DRIT") for key in ("image_a", "image_b")]
        d_content = []
        for (x_a, _), (x_b, _) in zip(parts[0][:-1], parts[1][:-1]):
            losses, _ = self.minimize(
                {"content_discriminator": "d_content_total"},
                lambda x_a=x_a, x_b=x_b: (self._content_discriminator_losses(
                    *self._contents(x_a, x_b)), None))
            d_content.append(losses["d_content"])
        losses, _ = self.minimize(
            {"content_encoder": ("eg_total", "alone_total"), "attribute_encoder": "eg_total",
             "generator": ("eg_total", "alone_total")},
            lambda: self._full_update(*parts[0][-1], *parts[1][-1]))
        d_content.append(losses["d_content"])
        losses["d_content"] = sum(d_content) / len(d_content)
        return self.record_losses(losses)

    def _contents(self, x_a, x_b):
        """The content codes of both domains in training, with the reference's N(0, 1)
        noise (`GaussianNoiseLayer`)."""
        return (with_noise(self, self.content_encoder(x_a, branch=0, training=True)),
                with_noise(self, self.content_encoder(x_b, branch=1, training=True)))


    def _content_discriminator_losses(self, c_a, c_b):
        """`backward_contentD`: content codes of b are real (1), of a fake (0)."""
        c_a, c_b = ops.stop_gradient(c_a), ops.stop_gradient(c_b)
        loss = (binary_cross_entropy(self.content_discriminator(c_b, training=True), 1.0)
                + binary_cross_entropy(self.content_discriminator(c_a, training=True), 0.0))
        return {"d_content": loss,
                "d_content_total": loss + self.weight_decay_penalty("content_discriminator")}

    def _encoded_attributes(self, images, branch, batch):
        """`(attribute, kl)`: the attribute of `images` (a sample of the VAE) and its
        regularizer (KL, or mean square for the deterministic encoder)."""
        if not self.concat:
            z = self.attribute_encoder(images, branch=branch, training=True)
            return z, mean_square(z)
        mu, logvar = self.attribute_encoder(images, branch=branch, training=True)
        eps = self.random_normal((batch, self.attribute_dim), self.seed_generator)
        return reparameterized(mu, logvar, eps), kl_divergence_loss(mu, logvar)

    def _full_update(self, x_a, x_a_random, x_b, x_b_random):
        """`forward`, `update_D` (nested) and the losses of `update_EG`'s two steps."""
        batch = ops.shape(x_a)[0]
        c_a, c_b = self._contents(x_a, x_b)
        z_a, kl_a = self._encoded_attributes(x_a, 0, batch)
        z_b, kl_b = self._encoded_attributes(x_b, 1, batch)
        draws = 2 if self.mode_seeking else 1
        z_random = [self.random_attributes(batch) for _ in range(draws)]

        def first_translation(branch, own, other, z):
            """The translations `[encoded, self-reconstruction, *random]` and the images at
            lower resolutions of the encoded one (`low_resolution`)."""
            contents = ops.concatenate([other, own] + [other] * draws)
            attributes = ops.concatenate([z, z] + [ops.cast(r, z.dtype) for r in z_random])
            *features, images = self.generator(contents, attributes, branch=branch,
                                               training=True, return_features=True)
            low = []
            if self.low_resolution:
                encoded = [ops.split(f, 2 + draws)[0] for f in features]
                low = self._low_resolution_images(encoded, branch)
            return ops.split(images, 2 + draws), low

        (fake_a, fake_aa, *fake_a_random), fake_a_low = first_translation(0, c_a, c_b, z_a)
        (fake_b, fake_bb, *fake_b_random), fake_b_low = first_translation(1, c_b, c_a, z_b)
        c_b_recon, c_a_recon = self._contents(fake_a, fake_b)
        z_a_recon, _ = self._encoded_attributes(fake_a, 0, batch)
        z_b_recon, _ = self._encoded_attributes(fake_b, 1, batch)
        fake_a_recon = self.generator(c_a_recon, z_a_recon, branch=0, training=True)
        fake_b_recon = self.generator(c_b_recon, z_b_recon, branch=1, training=True)
        # Latent regression: the attribute (the VAE's mean) encoded back from a translation.
        z_a_regressed = self._attribute(fake_a_random[0], 0, training=True)
        z_b_regressed = self._attribute(fake_b_random[0], 1, training=True)

        d_losses, _ = self.minimize(
            {"discriminator": "d_total", "content_discriminator": "d_content_total"},
            lambda: ({**self._discriminator_losses(
                (x_a, x_a_random, fake_a, fake_a_random, fake_a_low),
                (x_b, x_b_random, fake_b, fake_b_random, fake_b_low)),
                **self._content_discriminator_losses(c_a, c_b)}, None))

        gan = self._generator_gan
        losses = {
            "g_gan": gan(self.discriminator_a, fake_a) + gan(self.discriminator_b, fake_b),
            "g_gan_content": sum(binary_cross_entropy(
                self.content_discriminator(c, training=True), 0.5) for c in (c_a, c_b)),
            "cross_cycle": self.lambda_rec * (l1(fake_a_recon, x_a) + l1(fake_b_recon, x_b)),
            "self_recon": self.lambda_rec * (l1(fake_aa, x_a) + l1(fake_bb, x_b)),
            "kl_attribute": self.lambda_kl * (kl_a + kl_b),
            "kl_content": self.lambda_kl * (mean_square(c_a) + mean_square(c_b)),
        }
        alone = {
            "g_gan_random": sum(gan(self.discriminator_a2, f) for f in fake_a_random)
            + sum(gan(self.discriminator_b2, f) for f in fake_b_random),
            "latent": self.lambda_latent * (latent_regression_loss(z_random[0], z_a_regressed)
                                            + latent_regression_loss(z_random[0], z_b_regressed)),
        }
        if self.low_resolution:
            losses["g_gan_low"] = sum(
                gan(d, f) for ds, fakes in zip(self.low_resolution_discriminators,
                                               (fake_a_low, fake_b_low))
                for d, f in zip(ds, fakes))
        if self.mode_seeking:
            alone["mode_seeking"] = sum(
                mode_seeking_loss(*fakes, *z_random) for fakes in (fake_b_random, fake_a_random))
        decay = self.weight_decay_penalty("content_encoder", "attribute_encoder", "generator")
        return {**losses, **alone, "d_loss": d_losses["d_loss"],
                "d_content": d_losses["d_content"],
                "eg_total": sum(losses.values()) + decay,
                "alone_total": sum(alone.values()) + decay}, None

    def _generator_gan(self, discriminator, fake):
        """`backward_G_GAN`: BCE against 1, summed over scales."""
        return generator_adversarial_loss(discriminator(fake, training=True), "nsgan", "sum")

    def _discriminator_losses(self, domain_a, domain_b):
        """`update_D`'s image discriminators: for each domain `(real, real_random, fake,
        fakes_random, fakes_low)`, the encoded-attribute discriminator on real vs fake and the
        random-attribute one on real_random vs each random draw (`backward_D` per draw);
        with `low_resolution`, each low-resolution discriminator on real pooled to its
        resolution vs the translation's image at it."""
        d_loss = 0.0
        for branch, (real, real_random, fake, fakes_random, fakes_low) in enumerate(
                (domain_a, domain_b)):
            encoded, random = self._discriminators(branch)
            d_loss += self._discriminator_loss(encoded, real, fake)
            for fake_random in fakes_random:
                d_loss += self._discriminator_loss(random, real_random, fake_random)
            for k, fake_low in enumerate(fakes_low):
                pooled = ops.average_pool(real, 4 // 2 ** k, 4 // 2 ** k)
                d_loss += self._discriminator_loss(
                    self.low_resolution_discriminators[branch][k], pooled, fake_low)
        return {"d_loss": d_loss, "d_total": d_loss + self.weight_decay_penalty("discriminator")}

    def _discriminator_loss(self, discriminator, real, fake):
        """`backward_D`: BCE real vs 1 plus fake vs 0, summed over scales."""
        fake = ops.stop_gradient(fake)
        outputs = discriminator(ops.concatenate([real, ops.cast(fake, real.dtype)]),
                                training=True)
        batch = ops.shape(real)[0]
        real_loss, fake_loss = discriminator_adversarial_loss(
            [o[:batch] for o in outputs], [o[batch:] for o in outputs], "nsgan", "sum")
        return real_loss + fake_loss

    # ---------------------------------------------------------------- export

    def serving_endpoints(self):
        """`sample_a2b` (`serving_default`), `sample_b2a`: `image` float32 (B, H, W, C) ->
        `{"image"}` with random N(0, 1) attributes; `translate_a2b`, `translate_b2a`: `image`
        and `attribute` float32 (B, attribute_dim) -> `{"image"}`; `encode_attribute_a`,
        `encode_attribute_b`: `image` -> `{"attribute"}`. H and W multiples of 4."""
        import tensorflow as tf  # exporting needs TensorFlow; the model does not

        from keras_i2i.export import ServingInput, check_size_multiple, spatial_input

        attribute = ServingInput("attribute", ("B", self.attribute_dim))
        channels = dict(zip(DOMAINS, (self.channels_a, self.channels_b)))

        def checked(image):
            reason = "DRIT size_multiple: the content encoder's downsamplings"
            return check_size_multiple(image, "image", self.size_multiple, reason)

        def sampling(target):
            def sample(image):
                random = tf.random.normal((tf.shape(image)[0], self.attribute_dim))
                return {"image": self._translate(checked(image), target, random)}

            return sample

        def translation(target):
            return lambda image, attribute: {
                "image": self._translate(checked(image), target, attribute)}

        def attribute_encoding(domain):
            return lambda image: {"attribute": ops.cast(
                self._attribute(image, self._branch(domain)), "float32")}

        directions = {"a2b": ("a", "b"), "b2a": ("b", "a")}
        return {
            **{f"sample_{d}": (sampling(t), [spatial_input("image", channels[s])])
               for d, (s, t) in directions.items()},
            **{f"translate_{d}": (translation(t), [spatial_input("image", channels[s]), attribute])
               for d, (s, t) in directions.items()},
            **{f"encode_attribute_{d}": (attribute_encoding(d), [spatial_input("image", channels[d])])
               for d in DOMAINS},
        }

    def get_config(self):
        return {
            **super().get_config(),
            "channels_a": self.channels_a,
            "channels_b": self.channels_b,
            "width": self.width,
            "attribute_dim": self.attribute_dim,
            "concat": self.concat,
            "dis_scale": self.dis_scale,
            "dis_norm": self.dis_norm,
            "dis_spectral_norm": self.dis_spectral_norm,
            "content_dis_kernel_size": self.content_dis_kernel_size,
            "content_dis_layers": self.content_dis_layers,
            "mode_seeking": self.mode_seeking,
            "low_resolution": self.low_resolution,
            "d_iter": self.d_iter,
            "lambda_rec": self.lambda_rec,
            "lambda_kl": self.lambda_kl,
            "lambda_latent": self.lambda_latent,
            "learning_rate": self.learning_rate,
            "content_learning_rate": self.content_learning_rate,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "weight_decay": self.weight_decay,
            "content_clipnorm": self.content_clipnorm,
            "n_ep": self.n_ep,
            "n_ep_decay": self.n_ep_decay,
            "seed": self.seed,
        }

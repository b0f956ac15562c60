"""MUNIT: the model, its losses and its training step (NVlabs/MUNIT's `MUNIT_Trainer`).

Two domains, a and b, each with an auto-encoder (`AdaINGenerator`: content code, style code)
and a multi-scale discriminator (`MsImageDiscriminator`). A step is the reference's
`dis_update` then `gen_update`, on translations with random N(0, 1) styles (one draw for both
updates, see `MUNIT.train_step`):

- discriminators: each domain's tells its real images from translations into it (the other
  domain's content decoded with a random style), `gan_weight` * GAN loss;
- generators: `gan_weight` * GAN loss of both translations, `recon_x_weight` * L1 image
  reconstruction, `recon_s_weight` * L1 between the random style and the style encoded back
  from the translation, `recon_c_weight` * L1 between the content and the content encoded
  back, optionally `recon_x_cyc_weight` * L1 cycle reconstruction (translation back with the
  image's own style) and `vgg_weight` * the domain-invariant perceptual loss between each
  translation and its source (VGG16 relu5_3, instance-normalized, MSE).

Adam with PyTorch's coupled weight decay (`weight_decay * w` added to the gradient, as an
L2 term on the loss) and a step decay of the learning rate.
"""

import secrets

import keras
import numpy as np
from keras import ops

from keras_i2i.losses import (
    l1,
    VGGPerceptualLoss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
)
from keras_i2i.models.base import GANModel
from keras_i2i.models.discriminators import MsImageDiscriminator
from keras_i2i.models.munit.generator import AdaINGenerator, initializer

DIRECTIONS = ("a2b", "b2a")
# MUNIT's `compute_vgg_loss`: relu5_3 of its VGG16 (no pooling after relu4_3), instance norm.
MUNIT_VGG = dict(
    network="vgg16",
    layers=("block5_conv3",),
    layer_weights=(1.0,),
    distance="mse",
    instance_normalize=True,
    skip_layers=("block4_pool",),
)


def _joined(x, y):
    return ops.concatenate([x, ops.cast(y, x.dtype)], axis=0)


def _halves(x):
    return ops.split(x, 2, axis=0)


@keras.saving.register_keras_serializable(package="keras_i2i")
class MUNIT(GANModel):
    """Multimodal unsupervised image-to-image translation (Huang et al., ECCV 2018).

    Data: unpaired batches `{"image_a": float32 (B, H, W, channels_a), "image_b": float32
    (B, H, W, channels_b)}` in [-1, 1], as `keras_i2i.data.unpaired` and
    `keras_i2i.data.synthetic.unpaired` give them; H and W multiples of 16.

    Inference:
        - `translate(images, "a2b", num_styles=k, seed=s)`: k random styles per input;
          `translate(images, "a2b", style_images=...)`: the styles of example images;
          `translate(images, "a2b", styles=...)`: given style codes.
        - `encode(images, "a")` -> `(content, style)`, `decode(content, style, "b")`.
        - `model(images_a)` translates a -> b with random styles; `model({"image_a": ...,
          "image_b": ...})` gives `{"image_ab", "image_ba"}`.
        - `export(path)`: a SavedModel with `sample_a2b` / `sample_b2a` (image -> image, random
          style), `translate_a2b` / `translate_b2a` (image and style code -> image) and
          `encode_style_a` / `encode_style_b` (image -> style code).

    Args (MUNIT's config names in parentheses):
        channels_a, channels_b: image channels of each domain (`input_dim_a`, `input_dim_b`).
        dim, style_dim, mlp_dim, n_downsample, n_res, activation, pad_type: the generators'
            (`gen`, see `AdaINGenerator`).
        dis_dim, dis_norm, dis_activation, dis_n_layer, dis_num_scales, dis_pad_type: the
            discriminators' (`dis`, see `MsImageDiscriminator`).
        gan_mode: `"lsgan"` or `"nsgan"` (`gan_type`).
        gan_weight, recon_x_weight, recon_s_weight, recon_c_weight, recon_x_cyc_weight,
            vgg_weight: the loss weights (`gan_w`, `recon_x_w`, `recon_s_w`, `recon_c_w`,
            `recon_x_cyc_w`, `vgg_w`); 0 turns the cycle and VGG losses off.
        vgg_weights: weights of the VGG16 of the perceptual loss: `"imagenet"`, None (random,
            for tests) or a file; built by `compile` when `vgg_weight > 0`.
        learning_rate, beta_1, beta_2, weight_decay: Adam's (`lr`, `beta1`, `beta2`,
            `weight_decay`, PyTorch's coupled L2).
        lr_step_size, lr_gamma: the learning rate is multiplied by `lr_gamma` every
            `lr_step_size` steps (`lr_policy: step`, `step_size`, `gamma`); 0: constant.
        init: the generators' initialization (`init`, see `initializer`); the
            discriminators' is always `"gaussian"`, as in the reference.
        seed: seed of the random styles (drawn at random when None).

    Groups: `"generator"` (both auto-encoders), `"discriminator"` (both discriminators). On
    CPUs, train with `compile(jit_compile=True)`: XLA's convolution gradients are faster than
    TensorFlow's graph kernels there (about 5x for the decoders' 7 x 7 output convolution).
    """

    def __init__(
        self,
        channels_a=3,
        channels_b=3,
        dim=64,
        style_dim=8,
        mlp_dim=256,
        n_downsample=2,
        n_res=4,
        activation="relu",
        pad_type="reflect",
        dis_dim=64,
        dis_norm="none",
        dis_activation="lrelu",
        dis_n_layer=4,
        dis_num_scales=3,
        dis_pad_type="reflect",
        gan_mode="lsgan",
        gan_weight=1.0,
        recon_x_weight=10.0,
        recon_s_weight=1.0,
        recon_c_weight=1.0,
        recon_x_cyc_weight=0.0,
        vgg_weight=0.0,
        vgg_weights="imagenet",
        learning_rate=1e-4,
        beta_1=0.5,
        beta_2=0.999,
        weight_decay=1e-4,
        lr_step_size=100000,
        lr_gamma=0.5,
        init="kaiming",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if gan_mode not in ("lsgan", "nsgan"):
            raise ValueError(f"gan_mode must be 'lsgan' or 'nsgan' (MUNIT's), got {gan_mode!r}")
        self.channels_a = channels_a
        self.channels_b = channels_b
        self.dim = dim
        self.style_dim = style_dim
        self.mlp_dim = mlp_dim
        self.n_downsample = n_downsample
        self.n_res = n_res
        self.activation = activation
        self.pad_type = pad_type
        self.dis_dim = dis_dim
        self.dis_norm = dis_norm
        self.dis_activation = dis_activation
        self.dis_n_layer = dis_n_layer
        self.dis_num_scales = dis_num_scales
        self.dis_pad_type = dis_pad_type
        self.gan_mode = gan_mode
        self.gan_weight = gan_weight
        self.recon_x_weight = recon_x_weight
        self.recon_s_weight = recon_s_weight
        self.recon_c_weight = recon_c_weight
        self.recon_x_cyc_weight = recon_x_cyc_weight
        self.vgg_weight = vgg_weight
        self.vgg_weights = vgg_weights
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.weight_decay = weight_decay
        self.lr_step_size = lr_step_size
        self.lr_gamma = lr_gamma
        self.init = init
        self.seed = secrets.randbelow(2**31) if seed is None else seed

        generator = dict(
            dim=dim,
            style_dim=style_dim,
            mlp_dim=mlp_dim,
            n_downsample=n_downsample,
            n_res=n_res,
            activation=activation,
            pad_type=pad_type,
            init=init,
            dtype=self.dtype_policy,
        )
        discriminator = dict(
            num_scales=dis_num_scales,
            n_layer=dis_n_layer,
            dim=dis_dim,
            norm=dis_norm,
            activation=dis_activation,
            pad_type=dis_pad_type,
            kernel_initializer=initializer("gaussian"),
            dtype=self.dtype_policy,
        )
        self.create_networks(generator, discriminator)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="seed_generator")
        self.vgg_loss = None
        self.build()

    # ---------------------------------------------------------------- networks

    def create_networks(self, generator, discriminator):
        """Each domain's `AdaINGenerator` and `MsImageDiscriminator`, from their keyword
        arguments (a subclass adds its own networks here)."""
        self.generator_a = AdaINGenerator(self.channels_a, name="generator_a", **generator)
        self.generator_b = AdaINGenerator(self.channels_b, name="generator_b", **generator)
        self.discriminator_a = MsImageDiscriminator(name="discriminator_a", **discriminator)
        self.discriminator_b = MsImageDiscriminator(name="discriminator_b", **discriminator)

    @property
    def size_multiple(self):
        """H and W of images must be multiples of this (the style encoder's 4 stride-2 convs
        and the content encoder's `n_downsample`)."""
        return 2 ** max(4, self.n_downsample)

    def build_networks(self):
        # The smallest size every reflect padding of the discriminators' coarsest scale takes.
        size = max(2 * self.size_multiple, 2 ** (self.dis_num_scales + self.dis_n_layer - 1))
        for generator, discriminator, channels in self._domains():
            images = ops.zeros((1, size, size, channels))
            generator.decode(*generator.encode(images))
            discriminator(images)

    def _domains(self):
        return (
            (self.generator_a, self.discriminator_a, self.channels_a),
            (self.generator_b, self.discriminator_b, self.channels_b),
        )

    def optimizer_groups(self):
        return {
            "generator": self.generator_a.trainable_variables
            + self.generator_b.trainable_variables,
            "discriminator": self.discriminator_a.trainable_variables
            + self.discriminator_b.trainable_variables,
        }

    def default_optimizers(self):
        def adam(name):
            rate = self.learning_rate
            if self.lr_step_size:
                rate = keras.optimizers.schedules.ExponentialDecay(
                    rate, self.lr_step_size, self.lr_gamma, staircase=True
                )
            return keras.optimizers.Adam(rate, self.beta_1, self.beta_2, epsilon=1e-8, name=name)

        return {group: adam(f"{group}_adam") for group in ("generator", "discriminator")}

    def loss_names(self):
        names = ["d_loss", "g_loss", "g_gan", "x_recon", "s_recon", "c_recon"]
        if self.recon_x_cyc_weight > 0:
            names.append("x_cycle")
        if self.vgg_weight > 0:
            names.append("vgg")
        return names

    def compile(self, optimizers=None, **kwargs):
        """`GANModel.compile`; also builds the VGG16 of the perceptual loss (`vgg_weight > 0`)
        from `vgg_weights`, so that inference never needs it."""
        if self.vgg_weight > 0 and self.vgg_loss is None:
            self.vgg_loss = VGGPerceptualLoss(weights=self.vgg_weights, **MUNIT_VGG)
        super().compile(optimizers=optimizers, **kwargs)

    # ---------------------------------------------------------------- inference

    def _generator(self, domain):
        if domain not in ("a", "b"):
            raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
        return self.generator_a if domain == "a" else self.generator_b

    def _direction(self, direction):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        return self._generator(direction[0]), self._generator(direction[-1])

    def encode(self, images, domain="a"):
        """`(content, style)` of images of `domain`: content (B, H / 2^n, W / 2^n, dim 2^n)
        (n = `n_downsample`), style (B, style_dim)."""
        return self._generator(domain).encode(images)

    def decode(self, content, style, domain="b"):
        """Images of `domain` (B, H, W, channels) in [-1, 1] from content and style codes."""
        return self._generator(domain).decode(content, style)

    def random_styles(self, batch):
        """N(0, 1) style codes (B, style_dim) from the model's seed generator; under a
        `tf.distribute` strategy every replica draws its own."""
        return self.random_normal((batch, self.style_dim), self.seed_generator)

    def _translate(self, images, direction, style=None):
        source, target = self._direction(direction)
        if style is None:
            style = self.random_styles(ops.shape(images)[0])
        content = source.content_encoder(images)
        return ops.cast(target.decode(content, style), "float32")

    def call(self, inputs, training=False):
        """Translations with random styles: images of domain a (B, H, W, channels_a) -> a2b
        images; a dict with `"image_a"` and/or `"image_b"` -> `{"image_ab", "image_ba"}`."""
        if not isinstance(inputs, dict):
            return self._translate(inputs, "a2b")
        outputs = {}
        if "image_a" in inputs:
            outputs["image_ab"] = self._translate(inputs["image_a"], "a2b")
        if "image_b" in inputs:
            outputs["image_ba"] = self._translate(inputs["image_b"], "b2a")
        return outputs

    def translate(self, images, direction="a2b", num_styles=None, seed=None, style_images=None,
                  styles=None):
        """Translates images, with random styles or given ones.

        Args:
            images: (B, H, W, C) in [-1, 1] of the source domain, H and W multiples of
                `size_multiple`.
            direction: `"a2b"` or `"b2a"`.
            num_styles: k random N(0, 1) styles per input; the output gets a style axis.
            seed: int seed of the random styles, for reproducible results.
            style_images: (B or 1, H', W', C') images of the target domain whose styles are
                used (example-guided translation), one per input or one for all.
            styles: (B or 1, style_dim) style codes.

        Returns:
            float32 numpy (B, H, W, C_target), or (B, k, H, W, C_target) with `num_styles`.
        """
        source, target = self._direction(direction)
        images = self._check_images(images, source, "images")
        batch = len(images)
        if sum(x is not None for x in (num_styles, style_images, styles)) > 1:
            raise ValueError("Pass at most one of num_styles, style_images and styles.")
        if style_images is not None:
            style_images = self._check_images(style_images, target, "style_images")
            styles = ops.convert_to_numpy(target.encode(style_images)[1])
        if styles is not None:
            styles = np.asarray(styles, "float32")
            if styles.ndim != 2 or styles.shape[1] != self.style_dim or len(styles) not in (
                1, batch
            ):
                raise ValueError(
                    f"styles must be ({batch} or 1, {self.style_dim}), got shape {styles.shape}"
                )
            styles = np.broadcast_to(styles, (batch, self.style_dim))
        k = 1 if num_styles is None else num_styles
        if k < 1:
            raise ValueError(f"num_styles must be a positive int, got {num_styles}")
        if styles is None:
            styles = np.random.default_rng(seed).standard_normal((batch * k, self.style_dim))
        content = source.content_encoder(images)
        if k > 1:
            content = ops.repeat(content, k, axis=0)
        outputs = ops.convert_to_numpy(
            ops.cast(target.decode(content, styles.astype("float32")), "float32")
        )
        return outputs.reshape(batch, k, *outputs.shape[1:]) if num_styles else outputs

    def _check_images(self, images, generator, what):
        images = np.asarray(images, "float32")
        m = self.size_multiple
        if (
            images.ndim != 4
            or images.shape[-1] != generator.channels
            or images.shape[1] % m
            or images.shape[2] % m
            or images.shape[1] == 0
        ):
            raise ValueError(
                f"{what} must be (B, H, W, {generator.channels}) with H and W multiples of {m}, "
                f"got shape {images.shape}"
            )
        return images

    def sample_columns(self, batch):
        """Progress grid: each domain's input, its translation with a random style, and its
        reconstruction."""
        columns = {}
        for source, target in (("a", "b"), ("b", "a")):
            images = batch[f"image_{source}"]
            columns[source] = images
            columns[f"{source}2{target}"] = self._translate(images, f"{source}2{target}")
            generator = self._generator(source)
            columns[f"{source} recon"] = generator.decode(*generator.encode(images))
        return columns

    # ---------------------------------------------------------------- training

    def train_batch(self, data):
        """The reference's `dis_update` then `gen_update`, on one draw of random styles.

        The reference translates twice per iteration with the same generators, once for each
        update, each with its own random styles; here both updates use the same translations
        (the generators' forward pass is computed once, the discriminators update in the
        middle of it, the generators' GAN loss then sees the updated discriminators, as in
        the reference). That is the reference with one style draw per iteration instead of
        two, and saves two content encodings and two decodings per step.
        """
        if "image_a" not in data or "image_b" not in data:
            raise ValueError(
                f"MUNIT trains on {{'image_a', 'image_b'}} batches, got {sorted(data)}"
            )
        x_a, x_b = data["image_a"], data["image_b"]
        batch = ops.shape(x_a)[0]
        s_a, s_b = self.random_styles(batch), self.random_styles(batch)
        gen_a, gen_b = self.generator_a, self.generator_b

        def generator_losses():
            c_a, s_a_prime = gen_a.encode(x_a)
            c_b, s_b_prime = gen_b.encode(x_b)
            # Each decoder reconstructs its own domain and translates the other one's
            # content in one batch (per-sample norms: the same as two calls).
            x_a_recon, x_ba = _halves(gen_a.decode(_joined(c_a, c_b), _joined(s_a_prime, s_a)))
            x_b_recon, x_ab = _halves(gen_b.decode(_joined(c_b, c_a), _joined(s_b_prime, s_b)))
            d_losses, _ = self.minimize(
                {"discriminator": "d_total"},
                lambda: (self._discriminator_losses(
                    x_a, x_b, ops.stop_gradient(x_ba), ops.stop_gradient(x_ab)), None))
            c_b_recon, s_a_recon = gen_a.encode(x_ba)
            c_a_recon, s_b_recon = gen_b.encode(x_ab)
            losses = {
                "g_gan": self.gan_weight
                * (
                    generator_adversarial_loss(
                        self.discriminator_a(x_ba, training=True), self.gan_mode, "sum"
                    )
                    + generator_adversarial_loss(
                        self.discriminator_b(x_ab, training=True), self.gan_mode, "sum"
                    )
                ),
                "x_recon": self.recon_x_weight * (l1(x_a_recon, x_a) + l1(x_b_recon, x_b)),
                "s_recon": self.recon_s_weight * (l1(s_a_recon, s_a) + l1(s_b_recon, s_b)),
                "c_recon": self.recon_c_weight * (l1(c_a_recon, c_a) + l1(c_b_recon, c_b)),
            }
            if self.recon_x_cyc_weight > 0:
                x_aba = gen_a.decode(c_a_recon, s_a_prime)
                x_bab = gen_b.decode(c_b_recon, s_b_prime)
                losses["x_cycle"] = self.recon_x_cyc_weight * (l1(x_aba, x_a) + l1(x_bab, x_b))
            if self.vgg_weight > 0:
                losses["vgg"] = self.vgg_weight * (
                    self.vgg_loss(x_b, x_ba) + self.vgg_loss(x_a, x_ab)
                )
            g_loss = sum(losses.values())
            decayed = g_loss + self.weight_decay_penalty("generator")
            return {**losses, "g_loss": g_loss, "g_total": decayed,
                    "d_loss": d_losses["d_loss"]}, None

        losses, _ = self.minimize({"generator": "g_total"}, generator_losses)
        return self.record_losses(losses)

    def _discriminator_losses(self, x_a, x_b, x_ba, x_ab):
        """The reference's `dis_update` losses on given translations: each domain's
        discriminator on its real images and on the translations into it; `{"d_loss",
        "d_total"}`, the total with the weight decay."""
        d_loss = 0.0
        for discriminator, real, fake in (
            (self.discriminator_a, x_a, x_ba),
            (self.discriminator_b, x_b, x_ab),
        ):
            real_loss, fake_loss = discriminator_adversarial_loss(
                *self._discriminate(discriminator, real, fake), self.gan_mode, "sum"
            )
            d_loss += self.gan_weight * (real_loss + fake_loss)
        return {"d_loss": d_loss, "d_total": d_loss + self.weight_decay_penalty("discriminator")}

    def _discriminate(self, discriminator, real, fake):
        """`(real_outputs, fake_outputs)`, in one batch unless the norm is batch norm."""
        if self.dis_norm == "batch":
            return discriminator(real, training=True), discriminator(fake, training=True)
        outputs = discriminator(ops.concatenate([real, ops.cast(fake, real.dtype)]), training=True)
        batch = ops.shape(real)[0]
        return [o[:batch] for o in outputs], [o[batch:] for o in outputs]

    # ---------------------------------------------------------------- export

    def serving_endpoints(self):
        """`sample_a2b` (`serving_default`), `sample_b2a`: `image` float32 (B, H, W, C) ->
        `{"image"}` with random N(0, 1) styles; `translate_a2b`, `translate_b2a`: `image` and
        `style` float32 (B, style_dim) -> `{"image"}`; `encode_style_a`, `encode_style_b`:
        `image` -> `{"style"}`. The graph checks the shapes, H and W multiples of
        `size_multiple`."""
        import tensorflow as tf  # exporting needs TensorFlow; the model does not

        from keras_i2i.export import ServingInput, check_size_multiple, spatial_input

        style = ServingInput("style", ("B", self.style_dim))

        def image_input(domain):
            return spatial_input("image", self._generator(domain).channels)

        def checked(image):
            reason = "MUNIT size_multiple: the downsamplings of its encoders"
            return check_size_multiple(image, "image", self.size_multiple, reason)

        def sampling(direction):
            def sample(image):
                random = tf.random.normal((tf.shape(image)[0], self.style_dim))
                return {"image": self._translate(checked(image), direction, random)}

            return sample

        def translation(direction):
            return lambda image, style: {"image": self._translate(checked(image), direction, style)}

        def style_encoding(domain):
            generator = self._generator(domain)
            return lambda image: {"style": ops.cast(generator.encode(checked(image))[1], "float32")}

        return {
            **{f"sample_{d}": (sampling(d), [image_input(d[0])]) for d in DIRECTIONS},
            **{f"translate_{d}": (translation(d), [image_input(d[0]), style]) for d in DIRECTIONS},
            **{f"encode_style_{d}": (style_encoding(d), [image_input(d)]) for d in ("a", "b")},
        }

    def get_config(self):
        return {
            **super().get_config(),
            "channels_a": self.channels_a,
            "channels_b": self.channels_b,
            "dim": self.dim,
            "style_dim": self.style_dim,
            "mlp_dim": self.mlp_dim,
            "n_downsample": self.n_downsample,
            "n_res": self.n_res,
            "activation": self.activation,
            "pad_type": self.pad_type,
            "dis_dim": self.dis_dim,
            "dis_norm": self.dis_norm,
            "dis_activation": self.dis_activation,
            "dis_n_layer": self.dis_n_layer,
            "dis_num_scales": self.dis_num_scales,
            "dis_pad_type": self.dis_pad_type,
            "gan_mode": self.gan_mode,
            "gan_weight": self.gan_weight,
            "recon_x_weight": self.recon_x_weight,
            "recon_s_weight": self.recon_s_weight,
            "recon_c_weight": self.recon_c_weight,
            "recon_x_cyc_weight": self.recon_x_cyc_weight,
            "vgg_weight": self.vgg_weight,
            "vgg_weights": self.vgg_weights,
            "learning_rate": self.learning_rate,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "weight_decay": self.weight_decay,
            "lr_step_size": self.lr_step_size,
            "lr_gamma": self.lr_gamma,
            "init": self.init,
            "seed": self.seed,
        }

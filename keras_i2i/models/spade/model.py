"""SPADE (GauGAN): the model, its losses and its training step (NVlabs/SPADE's
`Pix2PixModel` and `Pix2PixTrainer`).

One step: the generator group (generator, and the style encoder with the VAE) minimizes
hinge + 10 * feature matching + 10 * VGG (+ 0.05 * KL); then the discriminator minimizes
the hinge loss on real and generated images. Both see the semantic map concatenated with
the image, fake and real in one batch, as the reference feeds them.
"""

import keras
import numpy as np
from keras import ops

from keras_i2i.layers import semantic_map
from keras_i2i.layers.conv_routes import one_hot_lookup
from keras_i2i.losses import (
    VGGPerceptualLoss,
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    kl_divergence_loss,
)
from keras_i2i.models.base import GANModel, int_maps
from keras_i2i.models.discriminators import MultiscaleDiscriminator
from keras_i2i.models.spade.encoder import SPADEStyleEncoder
from keras_i2i.models.spade.generator import SPADEGenerator


def reference_initializer():
    """SPADE's `init_type="xavier"`, `init_variance=0.02`: Xavier normal with gain 0.02."""
    return keras.initializers.VarianceScaling(
        scale=0.02**2, mode="fan_avg", distribution="untruncated_normal"
    )


@keras.saving.register_keras_serializable(package="keras_i2i")
class SPADE(GANModel):
    """Semantic image synthesis with spatially-adaptive normalization (Park et al., CVPR 2019).

    Data: batches `{"label": int (B, H, W, 1), "instance": int (B, H, W, 1) (with
    `use_instance`), "image": float32 (B, H, W, 3) in [-1, 1]}` as `keras_i2i.data`'s
    `paired_labels` and `synthetic.scenes` give them. The semantic map is the one-hot label
    map (`label_nc` channels, + 1 with `contain_dontcare_label`) and, with `use_instance`,
    the instance boundary map (`semantic_map`).

    Inference: `model(label)` or `model({"label": ..., "instance": ..., "z": ...})` ->
    float32 images (B, H, W, 3); `translate(...)` checks its input and takes a style image;
    `export(path)` writes a SavedModel (see `serving_endpoints`).

    Args:
        label_nc: label classes, without the dontcare class.
        contain_dontcare_label: whether ids include `label_nc` for unlabeled pixels.
        use_instance: add the instance boundary map (the reference's `not no_instance`).
        image_size: `(H, W)` of the training images (the reference's `crop_size` and
            `aspect_ratio`); it fixes the output size with the VAE, and the dummy build.
        ngf, num_upsampling_layers, norm_G, spade_hidden: the generator's (see
            `SPADEGenerator`).
        use_vae: train with the style encoder (`SPADEStyleEncoder`) and sample z at
            inference; the generator then starts from z.
        z_dim: length of the style code.
        norm_E: the style encoder's norm.
        ndf, num_D, n_layers_D, norm_D: the discriminator's (`MultiscaleDiscriminator`).
        gan_mode: `"hinge"`, `"lsgan"` or `"nsgan"` (the reference's "original").
        lambda_feat: discriminator feature matching weight (0: off, `no_ganFeat_loss`).
        lambda_vgg: VGG19 perceptual loss weight (0: off, `no_vgg_loss`). The VGG is built
            by `compile` from `vgg_weights`.
        lambda_kld: KL divergence weight with the VAE.
        vgg_weights: `"imagenet"`, None (random, for tests) or a VGG19 weights file.
        learning_rate: the reference's `lr`; with `ttur` the generator trains at
            `lr / 2` and the discriminator at `lr * 2`.
        ttur: two time-scale update rule (the reference's `not no_TTUR`).
        beta_1, beta_2: Adam's (the reference: (0, 0.9) with TTUR, (0.5, 0.999) without).

    Groups: `"generator"` (generator + style encoder), `"discriminator"`. Linear decay (the
    reference's `niter_decay`): `compile(learning_rate_schedule=schedules.linear_decay(...))`.
    `compile()` leaves Keras's `jit_compile="auto"`: XLA on GPUs, not on machines with CPUs
    only, where `compile(jit_compile=True)` trains faster (after a compilation of minutes): XLA
    computes the convolutions' weight gradients as forward convolutions, which took 30% less
    CPU time per step than TensorFlow's `Conv2DBackpropFilter` kernels (the largest cost of a
    step without XLA).

    Unlike the reference, whose discriminator step generates the fake image again with the
    updated generator, the discriminator step reuses the generator step's image (one
    generator pass less per step).
    """

    def __init__(
        self,
        label_nc=35,
        contain_dontcare_label=False,
        use_instance=True,
        image_size=(256, 512),
        ngf=64,
        num_upsampling_layers="normal",
        norm_G="spectralspadesyncbatch3x3",
        spade_hidden=128,
        use_vae=False,
        z_dim=256,
        norm_E="spectralinstance",
        ndf=64,
        num_D=2,
        n_layers_D=4,
        norm_D="spectralinstance",
        gan_mode="hinge",
        lambda_feat=10.0,
        lambda_vgg=10.0,
        lambda_kld=0.05,
        vgg_weights="imagenet",
        learning_rate=2e-4,
        ttur=True,
        beta_1=0.0,
        beta_2=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.label_nc = label_nc
        self.contain_dontcare_label = contain_dontcare_label
        self.use_instance = use_instance
        self.image_size = tuple(image_size)
        self.ngf = ngf
        self.num_upsampling_layers = num_upsampling_layers
        self.norm_G = norm_G
        self.spade_hidden = spade_hidden
        self.use_vae = use_vae
        self.z_dim = z_dim
        self.norm_E = norm_E
        self.ndf = ndf
        self.num_D = num_D
        self.n_layers_D = n_layers_D
        self.norm_D = norm_D
        self.gan_mode = gan_mode
        self.lambda_feat = lambda_feat
        self.lambda_vgg = lambda_vgg
        self.lambda_kld = lambda_kld
        self.vgg_weights = vgg_weights
        self.learning_rate = learning_rate
        self.ttur = ttur
        self.beta_1 = beta_1
        self.beta_2 = beta_2

        self.num_classes = label_nc + int(contain_dontcare_label)
        self.semantic_nc = self.num_classes + int(use_instance)
        common = dict(kernel_initializer=reference_initializer(), dtype=self.dtype_policy)
        self.generator = SPADEGenerator(
            ngf=ngf,
            num_upsampling_layers=num_upsampling_layers,
            norm=norm_G,
            spade_hidden=spade_hidden,
            use_vae=use_vae,
            z_dim=z_dim,
            image_size=self.image_size,
            one_hot_channels=self.num_classes,
            name="generator",
            **common,
        )
        self.discriminator = MultiscaleDiscriminator(
            num_D=num_D, n_layers=n_layers_D, ndf=ndf, norm=norm_D, name="discriminator", **common
        )
        self.style_encoder = (
            SPADEStyleEncoder(ngf=ngf, norm=norm_E, z_dim=z_dim, name="style_encoder", **common)
            if use_vae
            else None
        )
        self.seed_generator = keras.random.SeedGenerator(name="seed_generator")
        self.vgg_loss = None
        self.build()

    # ---------------------------------------------------------------- networks

    @property
    def size_multiple(self):
        """H and W of label maps must be multiples of this (the generator's upsamplings)."""
        return self.generator.scale

    def build_networks(self):
        size = self.image_size if self.use_vae else (self.generator.scale,) * 2
        semantics = ops.zeros((1, *size, self.semantic_nc))
        fake = self._generate(semantics, ops.zeros((1, self.z_dim)))
        self.discriminator(ops.concatenate([semantics, fake], axis=-1))
        if self.use_vae:
            self.style_encoder(ops.zeros((1, 8, 8, 3)))

    def optimizer_groups(self):
        generator = self.generator.trainable_variables
        if self.use_vae:
            generator = generator + self.style_encoder.trainable_variables
        return {"generator": generator, "discriminator": self.discriminator.trainable_variables}

    def default_optimizers(self):
        g_lr, d_lr = (
            (self.learning_rate / 2, self.learning_rate * 2)
            if self.ttur
            else (self.learning_rate,) * 2
        )
        adam = dict(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=1e-8)
        return {
            "generator": keras.optimizers.Adam(g_lr, name="generator_adam", **adam),
            "discriminator": keras.optimizers.Adam(d_lr, name="discriminator_adam", **adam),
        }

    def loss_names(self):
        names = ["g_gan"]
        if self.lambda_feat > 0:
            names.append("g_feat")
        if self.lambda_vgg > 0:
            names.append("g_vgg")
        if self.use_vae:
            names.append("g_kld")
        return names + ["d_real", "d_fake"]

    def compile(self, optimizers=None, **kwargs):
        """`GANModel.compile`; also builds the VGG19 of the perceptual loss (`lambda_vgg > 0`)
        from `vgg_weights`, so that inference never needs it."""
        if self.lambda_vgg > 0 and self.vgg_loss is None:
            self.vgg_loss = VGGPerceptualLoss(weights=self.vgg_weights)
        super().compile(optimizers=optimizers, **kwargs)

    # ---------------------------------------------------------------- forward

    def semantics(self, label, instance=None):
        """The generator's input: (B, H, W, semantic_nc) float32 from the int label map (and
        the instance map with `use_instance`), both (B, H, W, 1)."""
        if self.use_instance and instance is None:
            raise ValueError(
                "This SPADE model uses instance maps (use_instance=True): pass the instance "
                "map (B, H, W, 1) with the label map."
            )
        return semantic_map(label, self.num_classes, instance if self.use_instance else None)

    def encode(self, images, training=False):
        """The style encoder's `(mu, logvar)`, (B, z_dim) float32, of [-1, 1] images."""
        if not self.use_vae:
            raise ValueError("This SPADE model has no style encoder (use_vae=False).")
        return self.style_encoder(images, training=training)

    def reparameterize(self, mu, logvar, seed=None):
        """`z = mu + exp(logvar / 2) * eps`, eps ~ N(0, 1) (from the model's seed generator, each
        replica its own; or from `seed`)."""
        if seed is None:
            eps = self.random_normal(ops.shape(mu), self.seed_generator)
        else:
            eps = keras.random.normal(ops.shape(mu), seed=seed)
        return mu + ops.exp(0.5 * logvar) * eps

    def _generate(self, semantics, z, training=False, lookup=False):
        """Generated images (B, H, W, 3) float32 from the semantic map (and z with the VAE);
        `lookup`: the SPADEs look up the kernel rows of the one-hot labels (code compiled by
        XLA, see `SpatiallyAdaptiveNorm`)."""
        if None not in semantics.shape[1:3]:  # static sizes (traced with unknown ones: served)
            self._check_size(semantics.shape[1:3])
        inputs = [semantics, z] if self.use_vae else semantics
        with one_hot_lookup(lookup):
            return ops.cast(self.generator(inputs, training=training), "float32")

    def call(self, inputs, training=False):
        """Images (B, H, W, 3) float32 from a label map (B, H, W, 1), or from a dict with
        `"label"`, `"instance"` (with `use_instance`) and optionally `"z"` (with the VAE;
        random N(0, 1) codes otherwise)."""
        if not isinstance(inputs, dict):
            inputs = {"label": inputs}
        semantics = self.semantics(inputs["label"], inputs.get("instance"))
        z = inputs.get("z")
        if self.use_vae and z is None:
            z = keras.random.normal((ops.shape(semantics)[0], self.z_dim), seed=self.seed_generator)
        return self._generate(semantics, z, training, lookup=self.traced_for_xla())

    def translate(self, labels, instances=None, style_images=None, num_styles=None, z=None,
                  seed=None):
        """Images for label maps: random styles, or the styles of example images.

        Args:
            labels: int (B, H, W) or (B, H, W, 1) label ids in 0..num_classes-1; H and W
                multiples of `size_multiple`, or `image_size` with the VAE.
            instances: int instance ids of the same shape (models with `use_instance`).
            style_images: with the VAE, (B or 1, H, W, 3) images in [-1, 1] whose style is
                used: z sampled from the style encoder's posterior, as the reference does.
            num_styles: with the VAE, k styles per input (random, or k draws from the
                posterior of `style_images`); the output gets a style axis.
            z: with the VAE, (B, z_dim) style codes; by default z ~ N(0, 1).
            seed: int seed of the random codes, for reproducible results.

        Returns:
            float32 numpy (B, H, W, 3) in [-1, 1], or (B, k, H, W, 3) with `num_styles`.
        """
        labels = int_maps(labels, "labels")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(
                f"labels must be ids in 0..{self.num_classes - 1} (label_nc {self.label_nc}"
                f"{' + dontcare' if self.contain_dontcare_label else ''}), got ids "
                f"{labels.min()}..{labels.max()}"
            )
        self._check_size(labels.shape[1:3])
        if instances is not None:
            instances = int_maps(instances, "instances")
            if instances.shape != labels.shape:
                raise ValueError(
                    f"instances have shape {instances.shape}, expected the labels' {labels.shape}"
                )
        batch, k = labels.shape[0], num_styles or 1
        if k < 1:
            raise ValueError(f"num_styles must be a positive int, got {num_styles}")
        z = self._style_codes(batch, k, style_images, z, num_styles, seed)
        semantics = ops.repeat(self.semantics(labels, instances), k, axis=0)
        images = ops.convert_to_numpy(self._generate(semantics, z))
        return images.reshape(batch, k, *images.shape[1:]) if num_styles else images

    def _style_codes(self, batch, k, style_images, z, num_styles, seed):
        """The generator's z for `translate`, k per input (B * k, z_dim); None without VAE."""
        given = {"style_images": style_images, "z": z, "num_styles": num_styles}
        if not self.use_vae:
            used = [name for name, value in given.items() if value is not None]
            if used:
                raise ValueError(f"{' and '.join(used)} need a model with the VAE (use_vae="
                                 "True); without it SPADE gives one image per label map.")
            return None
        if style_images is not None and z is not None:
            raise ValueError("Pass style_images or z, not both.")
        if z is not None:
            z = np.asarray(z, "float32")
            if z.shape != (batch, self.z_dim) or num_styles:
                raise ValueError(f"z must be ({batch}, {self.z_dim}) without num_styles, got "
                                 f"shape {z.shape}")
            return z
        if style_images is None:
            return keras.random.normal((batch * k, self.z_dim), seed=seed)
        style_images = np.asarray(style_images, "float32")
        if (style_images.ndim != 4 or style_images.shape[0] not in (1, batch)
                or style_images.shape[-1] != 3):
            raise ValueError(
                f"style_images must be ({batch} or 1, H, W, 3), got shape {style_images.shape}"
            )
        mu, logvar = self.encode(style_images)
        mu, logvar = (ops.repeat(ops.broadcast_to(x, (batch, self.z_dim)), k, axis=0)
                      for x in (mu, logvar))
        return self.reparameterize(mu, logvar, seed=seed)

    def _check_size(self, size):
        if self.use_vae:
            if tuple(size) != self.image_size:
                raise ValueError(
                    f"label maps must be {self.image_size} (image_size: the VAE's dense layer "
                    f"fixes the output size), got {tuple(size)}"
                )
        elif any(n % self.generator.scale or n == 0 for n in size):
            raise ValueError(
                f"label maps must have H and W multiples of {self.generator.scale} "
                f"(num_upsampling_layers={self.num_upsampling_layers!r}), got {tuple(size)}"
            )

    # ---------------------------------------------------------------- training

    def _discriminate(self, semantics, fake, real):
        """Discriminator features of fake and real (semantic map + image), fed as one batch;
        returns `(fake_features, real_features)`, each a list over scales of lists."""
        pairs = ops.concatenate(
            [
                ops.concatenate([semantics, fake], axis=-1),
                ops.concatenate([semantics, real], axis=-1),
            ],
            axis=0,
        )
        features = self.discriminator(pairs, training=True)
        batch = ops.shape(fake)[0]
        fake_features = [[f[:batch] for f in scale] for scale in features]
        real_features = [[f[batch:] for f in scale] for scale in features]
        return fake_features, real_features

    def train_batch(self, data):
        if "label" not in data or "image" not in data:
            raise ValueError(f"SPADE trains on {{'label', 'image'}} batches, got {sorted(data)}")
        semantics = self.semantics(data["label"], data.get("instance"))
        real = ops.cast(data["image"], "float32")

        def generator_losses():
            losses = {}
            z = None
            if self.use_vae:
                mu, logvar = self.style_encoder(real, training=True)
                z = self.reparameterize(mu, logvar)
                losses["g_kld"] = self.lambda_kld * kl_divergence_loss(mu, logvar)
            fake = self._generate(semantics, z, training=True)
            fake_features, real_features = self._discriminate(semantics, fake, real)
            losses["g_gan"] = generator_adversarial_loss(fake_features, self.gan_mode)
            if self.lambda_feat > 0:
                losses["g_feat"] = self.lambda_feat * feature_matching_loss(
                    real_features, fake_features
                )
            if self.lambda_vgg > 0:
                losses["g_vgg"] = self.lambda_vgg * self.vgg_loss(real, fake)
            return {**losses, "generator": sum(losses.values())}, fake

        losses, fake = self.minimize({"generator": "generator"}, generator_losses)

        # The reference generates the fake again with the updated generator (no gradient);
        # the image of the generator step serves instead, saving a generator pass.
        def discriminator_losses():
            fake_features, real_features = self._discriminate(semantics, fake, real)
            d_real, d_fake = discriminator_adversarial_loss(
                real_features, fake_features, self.gan_mode
            )
            return {"d_real": d_real, "d_fake": d_fake, "discriminator": d_real + d_fake}, None

        losses.update(self.minimize({"discriminator": "discriminator"}, discriminator_losses)[0])
        return self.record_losses(losses)

    # ---------------------------------------------------------------- export

    def serving_endpoints(self):
        """`serving_default`: `label` int32 (B, H, W, 1) [+ `instance` int32 (B, H, W, 1)]
        -> `{"image": float32 (B, H, W, 3)}`, random styles with the VAE. With the VAE also
        `translate_with_style` (the same + `z` float32 (B, z_dim)) and `encode_style`
        (`image` float32 (B, H, W, 3) -> `{"mu", "logvar"}`). The graph checks the inputs'
        shapes, the label ids and the size (as `translate` does)."""
        import tensorflow as tf  # exporting needs TensorFlow; the model does not

        from keras_i2i.export import ServingInput, spatial_input

        maps = [spatial_input("label", 1, tf.int32)]
        if self.use_instance:
            maps.append(spatial_input("instance", 1, tf.int32))

        def generate(maps, z):
            label = self._checked_served_label(maps[0])
            semantics = self.semantics(label, *maps[1:])
            if self.use_vae and z is None:
                z = tf.random.normal((tf.shape(semantics)[0], self.z_dim))
            return {"image": self._generate(semantics, z)}

        endpoints = {"translate": (lambda *maps: generate(maps, None), maps)}
        if self.use_vae:
            z_input = ServingInput("z", ("B", self.z_dim))
            endpoints["translate_with_style"] = (
                lambda *inputs: generate(inputs[:-1], inputs[-1]),
                [*maps, z_input],
            )

            def encode_style(image):
                mu, logvar = self.encode(image)
                return {"mu": mu, "logvar": logvar}

            endpoints["encode_style"] = (encode_style, [spatial_input("image", 3)])
        return endpoints

    def _checked_served_label(self, label):
        """The label map, once the served graph has checked its ids and size."""
        from keras_i2i.export import check_ids, check_size, check_size_multiple

        dontcare = " + dontcare" if self.contain_dontcare_label else ""
        label = check_ids(label, "label", self.num_classes, f"label_nc {self.label_nc}{dontcare}")
        if self.use_vae:
            reason = "SPADE image_size: the dense layer of the VAE fixes the output size"
            return check_size(label, "label", self.image_size, reason)
        reason = f"SPADE num_upsampling_layers={self.num_upsampling_layers}"
        return check_size_multiple(label, "label", self.generator.scale, reason)

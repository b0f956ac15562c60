"""MDMM: DRIT++'s multi-domain form (HsinYingLee/MDMM's `MD_multi`).

One content encoder, one attribute encoder and one generator for N domains, told the domain
by a one-hot code (the attribute encoder sees `[image, code tiled]`, the generator the code
beside the content); two discriminators (`MD_Dis`, `discriminator` for translations with
encoded attributes, `discriminator2` for those with random ones), each with an adversarial
map and a domain classifier; with `content_discriminator=True` (the README's
`--isDcontent`) a content discriminator that classifies the content codes' domains, which
the encoders learn to confuse.

A training step is, as DRIT's, one cycle of `d_iter` loader iterations (one iteration
without the content discriminator): the batch of `2 * d_iter * n` mixed-domain images is cut
into `d_iter` parts; each of the first `d_iter - 1` updates the content discriminator alone
on the whole part; the last part updates everything. Its first half (images "A") and second
half (images "B", any domains) swap contents: A's content is decoded with B's attribute and
domain code, and the reverse, then swapped back (cross-cycle).

Losses (the reference's, binary cross-entropy; a GAN loss is each image's mean summed over
the batch, as the reference's loop over its output's first axis computes it):

- discriminators: real vs translations, plus `lambda_cls` * the classification loss of the
  real images' domains; content discriminator: the content codes' domains;
- encoders and generator, first step: GAN and `lambda_cls_G` * classification losses of the
  encoded-attribute translations, the content GAN loss (codes classified as every other
  domain: targets `1 - code`), `lambda_rec` * L1 self-reconstruction and cross-cycle
  reconstruction, `lambda_kl` * KL of the attributes and mean square of the content codes;
- content encoder and generator, second step (gradients taken before the first step): GAN
  and classification losses of the random-attribute translations and `lambda_latent` * L1
  latent regression.

The published MDMM code does not run as released (a missing import, undefined names, an
in-place error in its update); this is its `MD_multi` as its `train.py` intends it.
"""

import secrets

import keras
import numpy as np
from keras import ops

from keras_i2i.losses import kl_divergence_loss, l1, latent_regression_loss
from keras_i2i.models.base import GANModel
from keras_i2i.models.discriminators import ContentDiscriminator
from keras_i2i.models.drit.discriminators import MultiDomainDiscriminator
from keras_i2i.models.drit.encoders import AttributeEncoder, ContentEncoder
from keras_i2i.models.drit.generator import Generator
from keras_i2i.models.drit.model import (
    adam_optimizers,
    attribute_codes,
    binary_cross_entropy,
    exclusive,
    mean_square,
    reparameterized,
    rhythm_parts,
    with_noise,
)


def summed_over_images(logits, target):
    """The reference's `for out in outputs: loss += bce(sigmoid(out), target)`: each image's
    mean binary cross-entropy, summed over the batch."""
    return ops.cast(ops.shape(logits)[0], "float32") * binary_cross_entropy(logits, target)


@keras.saving.register_keras_serializable(package="keras_i2i")
class MDMM(GANModel):
    """Multi-domain DRIT++ (Lee et al., IJCV 2020; HsinYingLee/MDMM).

    Data: batches `{"image": float32 (B, H, W, channels) in [-1, 1], "domain": int32 (B,)}`
    of mixed domains (`keras_i2i.data.multi_domain`, `keras_i2i.data.synthetic.multi_domain`),
    B a multiple of `default_batch_size`, H = W = `crop_size` (the domain classifier's kernel
    and, with the content discriminator, its 1 x 1 output are sized for it).

    Inference (any H and W multiples of 4):
        - `translate(images, target_domain=k, num_attributes=n, seed=s)`: random attributes;
          `attribute_images=..., attribute_domain=...`: the attributes of example images;
          `attributes=...`: given codes.
        - `encode(images, domain)` -> `(content, attribute)`; `decode(content, attribute,
          domain)`.
        - `model({"image", "domain"})` translates each image to its `domain` with a random
          attribute.
        - `export(path)`: `sample` (image, domain -> image, random attribute), `translate`
          (image, attribute, domain -> image), `encode_attribute` (image, domain ->
          attribute).

    Args (the reference's option names in parentheses):
        num_domains: N (`num_domains`, 3).
        channels: image channels (`input_dim`).
        crop_size: the training images' size (`crop_size`, 216).
        width, attribute_dim, concat, dis_spectral_norm, content_dis_kernel_size,
            content_dis_layers, d_iter, lambda_rec, lambda_kl, lambda_latent,
            learning_rate, content_learning_rate, beta_1, beta_2, weight_decay,
            content_clipnorm, n_ep, n_ep_decay, seed: as `DRIT`'s.
        content_discriminator: train with the content discriminator (`--isDcontent`, which
            the README's training command sets).
        lambda_cls, lambda_cls_G: weights of the discriminators' and the generator's
            classification losses (`lambda_cls` 1, `lambda_cls_G` 5).

    Groups: `"content_encoder"`, `"attribute_encoder"`, `"generator"`, `"discriminator"`
    (both), and `"content_discriminator"` when there is one.
    """

    def __init__(
        self,
        num_domains=3,
        channels=3,
        crop_size=216,
        width=64,
        attribute_dim=8,
        concat=True,
        dis_spectral_norm=False,
        content_discriminator=True,
        content_dis_kernel_size=7,
        content_dis_layers=3,
        d_iter=3,
        lambda_rec=10.0,
        lambda_cls=1.0,
        lambda_cls_G=5.0,
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
        if num_domains < 2 or d_iter < 1:
            raise ValueError(f"MDMM needs num_domains >= 2 and d_iter >= 1, got {num_domains} "
                             f"and {d_iter}")
        self.num_domains = num_domains
        self.channels = channels
        self.crop_size = crop_size
        self.width = width
        self.attribute_dim = attribute_dim
        self.concat = concat
        self.dis_spectral_norm = dis_spectral_norm
        self.content_discriminator = content_discriminator
        self.content_dis_kernel_size = content_dis_kernel_size
        self.content_dis_layers = content_dis_layers
        self.d_iter = d_iter
        self.lambda_rec = lambda_rec
        self.lambda_cls = lambda_cls
        self.lambda_cls_G = lambda_cls_G
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

        policy = dict(dtype=self.dtype_policy)
        self.content_encoder = ContentEncoder((channels,), width, name="content_encoder", **policy)
        self.attribute_encoder = AttributeEncoder(
            (channels,), attribute_dim, width, variational=concat, num_domains=num_domains,
            name="attribute_encoder", **policy)
        self.generator = Generator((channels,), width, attribute_dim, concat=concat,
                                   num_domains=num_domains, name="generator", **policy)
        discriminator = dict(num_domains=num_domains, crop_size=crop_size, width=width,
                             spectral_norm=dis_spectral_norm, **policy)
        self.discriminator = MultiDomainDiscriminator(name="discriminator", **discriminator)
        self.discriminator2 = MultiDomainDiscriminator(name="discriminator2", **discriminator)
        self.domain_classifier = None
        if content_discriminator:
            self.domain_classifier = ContentDiscriminator(
                width, kernel_size=content_dis_kernel_size, num_strided=content_dis_layers,
                num_domains=num_domains, name="content_discriminator", **policy)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="seed_generator")
        self.build()

    # ---------------------------------------------------------------- networks

    size_multiple = 4
    """H and W must be multiples of 4 (the content encoder's two stride-2 convolutions)."""

    @property
    def default_batch_size(self):
        """The reference's batch of 2 for each iteration of a step (`d_iter` of them with
        the content discriminator)."""
        return 2 * self._iterations

    @property
    def _iterations(self):
        return self.d_iter if self.content_discriminator else 1

    def build_networks(self):
        images = ops.zeros((1, self.crop_size, self.crop_size, self.channels))
        codes = self.domain_codes([0])
        content = self.content_encoder(images)
        self.generator(content, self._attribute(images, codes), domain_code=codes)
        self.discriminator(images)
        self.discriminator2(images)
        if self.domain_classifier is not None:
            self.domain_classifier(content)

    def optimizer_groups(self):
        groups = {
            "content_encoder": self.content_encoder.trainable_variables,
            "attribute_encoder": self.attribute_encoder.trainable_variables,
            "generator": self.generator.trainable_variables,
            "discriminator": self.discriminator.trainable_variables
            + self.discriminator2.trainable_variables,
        }
        if self.domain_classifier is not None:
            groups["content_discriminator"] = self.domain_classifier.trainable_variables
        return groups

    def default_optimizers(self):
        return adam_optimizers(self, self.optimizer_groups())

    def loss_names(self):
        names = ["d_loss", "d_cls", "g_gan", "g_cls", "self_recon", "cross_cycle",
                 "kl_attribute", "kl_content", "g_gan_random", "g_cls_random", "latent"]
        if self.content_discriminator:
            # As in the reference, the content discriminator learns only in the iterations
            # before the full update: never with d_iter = 1.
            names[2:2] = ["d_content", "g_gan_content"] if self.d_iter > 1 else ["g_gan_content"]
        return names

    # ---------------------------------------------------------------- inference

    def domain_codes(self, domains):
        """One-hot codes (B, num_domains) float32 of int domains (B,)."""
        return ops.one_hot(ops.convert_to_tensor(domains, "int32"), self.num_domains)

    def _attribute(self, images, codes, eps=None, training=False):
        """As `DRIT._attribute`, the encoder told the domains by `codes`."""
        if not self.concat:
            return self.attribute_encoder(images, domain_code=codes, training=training)
        mu, logvar = self.attribute_encoder(images, domain_code=codes, training=training)
        return mu if eps is None else reparameterized(mu, logvar, eps)

    def encode(self, images, domain):
        """`(content, attribute)` of images of `domain` (an int, or ints (B,)): content
        (B, H / 4, W / 4, 4 width), attribute (B, attribute_dim) (the VAE's mean)."""
        codes = self.domain_codes(self._domains(domain, ops.shape(images)[0]))
        return self.content_encoder(images), self._attribute(images, codes)

    def decode(self, content, attribute, domain):
        """Images of `domain` (an int or ints (B,)) in [-1, 1]."""
        codes = self.domain_codes(self._domains(domain, ops.shape(content)[0]))
        return self.generator(content, attribute, domain_code=codes)

    def _domains(self, domain, batch):
        domain = np.asarray(domain)
        if (not np.issubdtype(domain.dtype, np.integer) or domain.ndim > 1
                or np.any((domain < 0) | (domain >= self.num_domains))
                or (domain.ndim == 1 and len(domain) != batch)):
            raise ValueError(f"domains must be ints in 0..{self.num_domains - 1}, one or one "
                             f"per image ({batch}), got {domain.tolist()}")
        return np.broadcast_to(domain, (batch,)).astype("int32")

    def random_attributes(self, batch):
        """N(0, 1) attributes (B, attribute_dim) from the model's seed generator."""
        return self.random_normal((batch, self.attribute_dim), self.seed_generator)

    def _translate(self, images, codes, attribute=None):
        if attribute is None:
            attribute = self.random_attributes(ops.shape(images)[0])
        content = self.content_encoder(images)
        return ops.cast(self.generator(content, attribute, domain_code=codes), "float32")

    def call(self, inputs, training=False):
        """`{"image": (B, H, W, C), "domain": int (B,)}` -> each image translated to its
        domain with a random attribute."""
        return self._translate(inputs["image"], self.domain_codes(inputs["domain"]))

    def translate(self, images, target_domain, num_attributes=None, seed=None,
                  attribute_images=None, attributes=None):
        """Translates images (of any domain) into `target_domain`.

        Args:
            images: (B, H, W, channels) in [-1, 1], H and W multiples of 4.
            target_domain: an int in 0..num_domains-1, or one per image.
            num_attributes: k random N(0, 1) attributes per input; the output gets an axis.
            seed: int seed of the random attributes.
            attribute_images: (B or 1, H', W', channels) images of the target domain whose
                attributes (the VAE's mean) are used.
            attributes: (B or 1, attribute_dim) attribute codes.

        Returns:
            float32 numpy (B, H, W, channels), or (B, k, H, W, channels) with
            `num_attributes`.
        """
        images = self._check_images(images, "images")
        batch = len(images)
        domains = self._domains(target_domain, batch)
        exclusive(num_attributes=num_attributes, attribute_images=attribute_images,
                  attributes=attributes)
        if attribute_images is not None:
            attribute_images = self._check_images(attribute_images, "attribute_images")
            example_domains = self._domains(target_domain, len(attribute_images))
            attributes = ops.convert_to_numpy(
                self._attribute(attribute_images, self.domain_codes(example_domains)))
        attributes, k = attribute_codes(attributes, batch, self.attribute_dim, num_attributes,
                                        seed)
        content = self.content_encoder(images)
        if k > 1:
            content = ops.repeat(content, k, axis=0)
        outputs = ops.convert_to_numpy(ops.cast(self.generator(
            content, attributes, domain_code=self.domain_codes(np.repeat(domains, k))),
            "float32"))
        return outputs.reshape(batch, k, *outputs.shape[1:]) if num_attributes else outputs

    def _check_images(self, images, what):
        images = np.asarray(images, "float32")
        if (images.ndim != 4 or images.shape[-1] != self.channels or images.shape[1] % 4
                or images.shape[2] % 4 or images.shape[1] == 0):
            raise ValueError(f"{what} must be (B, H, W, {self.channels}) with H and W "
                             f"multiples of 4, got shape {images.shape}")
        return images

    def sample_columns(self, batch):
        """Progress grid: the input, then its translation into each domain with a random
        attribute."""
        images = batch["image"]
        count = ops.shape(images)[0]
        columns = {"input": images}
        for domain in range(self.num_domains):
            codes = self.domain_codes(ops.full((count,), domain, "int32"))
            columns[f"to {domain}"] = self._translate(images, codes)
        return columns

    # ---------------------------------------------------------------- training

    def train_batch(self, data):
        """`d_iter - 1` content-discriminator updates and one full update (see the module)."""
        if "image" not in data or "domain" not in data:
            raise ValueError(f"MDMM trains on {{'image', 'domain'}} batches, got {sorted(data)}")
        size = tuple(data["image"].shape[1:3])
        if size != (self.crop_size, self.crop_size):
            raise ValueError(f"MDMM trains on crop_size x crop_size images ({self.crop_size}: "
                             f"its discriminators' classifier and content discriminator are "
                             f"sized for it), got {size[0]}x{size[1]}")
        images = rhythm_parts(data["image"], self._iterations, "MDMM")
        codes = rhythm_parts(self.domain_codes(ops.reshape(data["domain"], (-1,))),
                             self._iterations, "MDMM")
        d_content = []
        for part, part_codes in zip(images[:-1], codes[:-1]):
            losses, _ = self.minimize(
                {"content_discriminator": "d_content_total"},
                lambda x=ops.concatenate(part), c=ops.concatenate(part_codes): (
                    self._content_discriminator_losses(self._content(x), c), None))
            d_content.append(losses["d_content"])
        targets = {"content_encoder": ("eg_total", "alone_total"),
                   "attribute_encoder": "eg_total", "generator": ("eg_total", "alone_total")}
        losses, _ = self.minimize(targets, lambda: self._full_update(images[-1], codes[-1]))
        if d_content:
            losses["d_content"] = sum(d_content) / len(d_content)
        return self.record_losses(losses)

    def _content(self, images):
        """Content codes in training, with the reference's N(0, 1) noise."""
        return with_noise(self, self.content_encoder(images, training=True))

    def _content_discriminator_losses(self, content, codes):
        """`update_D_content`: the content codes' domains."""
        loss = binary_cross_entropy(
            self.domain_classifier(ops.stop_gradient(content), training=True), codes)
        return {"d_content": loss,
                "d_content_total": loss + self.weight_decay_penalty("content_discriminator")}

    def _encoded_attributes(self, images, codes):
        """`(attribute, kl)` as `DRIT._encoded_attributes`."""
        if not self.concat:
            z = self.attribute_encoder(images, domain_code=codes, training=True)
            return z, mean_square(z)
        mu, logvar = self.attribute_encoder(images, domain_code=codes, training=True)
        eps = self.random_normal(ops.shape(mu), self.seed_generator)
        return reparameterized(mu, logvar, eps), kl_divergence_loss(mu, logvar)

    def _full_update(self, images, codes):
        """`forward`, `update_D` (nested) and the losses of `update_EG`'s two steps."""
        (x_a, x_b), (code_a, code_b) = images, codes
        x, codes = ops.concatenate([x_a, x_b]), ops.concatenate([code_a, code_b])
        half = ops.shape(x_a)[0]
        content = self._content(x)
        c_a, c_b = ops.split(content, 2)
        z, kl_attribute = self._encoded_attributes(x, codes)
        z_a, z_b = ops.split(z, 2)
        z_random = ops.cast(self.random_attributes(half), z.dtype)

        def first_translation(own, other, z_own, code):
            translated = self.generator(
                ops.concatenate([other, own, other]), ops.concatenate([z_own, z_own, z_random]),
                domain_code=ops.concatenate([code, code, code]), training=True)
            return ops.split(translated, 3)

        fake_a, fake_aa, fake_a_random = first_translation(c_a, c_b, z_a, code_a)
        fake_b, fake_bb, fake_b_random = first_translation(c_b, c_a, z_b, code_b)
        fake_encoded = ops.concatenate([fake_a, fake_b])
        fake_random = ops.concatenate([fake_a_random, fake_b_random])
        c_b_recon, c_a_recon = ops.split(self._content(fake_encoded), 2)
        z_recon, _ = self._encoded_attributes(fake_encoded, codes)
        z_a_recon, z_b_recon = ops.split(z_recon, 2)
        fake_recon = ops.concatenate([
            self.generator(c_a_recon, z_a_recon, domain_code=code_a, training=True),
            self.generator(c_b_recon, z_b_recon, domain_code=code_b, training=True)])
        z_a_regressed, z_b_regressed = ops.split(
            self._attribute(fake_random, codes, training=True), 2)

        d_losses, _ = self.minimize(
            {"discriminator": "d_total"},
            lambda: (self._discriminator_losses(x, codes, fake_encoded, fake_random), None))

        g_gan, g_cls = self._generator_losses(self.discriminator, fake_encoded, codes)
        losses = {
            "g_gan": g_gan,
            "g_cls": g_cls,
            "self_recon": self.lambda_rec * l1(x, ops.concatenate([fake_aa, fake_bb])),
            "cross_cycle": self.lambda_rec * l1(x, fake_recon),
            "kl_attribute": self.lambda_kl * kl_attribute,
            "kl_content": self.lambda_kl * mean_square(content),
        }
        if self.content_discriminator:
            losses["g_gan_content"] = binary_cross_entropy(
                self.domain_classifier(content, training=True), 1.0 - codes)
        g_gan_random, g_cls_random = self._generator_losses(self.discriminator2, fake_random,
                                                            codes)
        alone = {
            "g_gan_random": g_gan_random,
            "g_cls_random": g_cls_random,
            "latent": self.lambda_latent * (latent_regression_loss(z_random, z_a_regressed)
                                            + latent_regression_loss(z_random, z_b_regressed)),
        }
        decay = self.weight_decay_penalty("content_encoder", "attribute_encoder", "generator")
        logged = {**losses, **alone, "d_loss": d_losses["d_loss"], "d_cls": d_losses["d_cls"],
                  "eg_total": sum(losses.values()) + decay,
                  "alone_total": sum(alone.values()) + decay}
        return logged, None

    def _generator_losses(self, discriminator, fake, codes):
        """`(GAN loss, lambda_cls_G * classification loss)` of translations."""
        adversarial, logits = discriminator(fake, training=True)
        return (summed_over_images(adversarial, 1.0),
                self.lambda_cls_G * binary_cross_entropy(logits, codes))

    def _discriminator_losses(self, real, codes, fake_encoded, fake_random):
        """`update_D`: each discriminator on the real images (GAN and classification) and on
        its translations."""
        d_loss, d_cls = 0.0, 0.0
        for discriminator, fake in ((self.discriminator, fake_encoded),
                                    (self.discriminator2, fake_random)):
            adversarial, logits = discriminator(
                ops.concatenate([real, ops.cast(ops.stop_gradient(fake), real.dtype)]),
                training=True)
            real_map, fake_map = ops.split(adversarial, 2)
            d_loss += summed_over_images(real_map, 1.0) + summed_over_images(fake_map, 0.0)
            d_cls += self.lambda_cls * binary_cross_entropy(ops.split(logits, 2)[0], codes)
        total = d_loss + d_cls + self.weight_decay_penalty("discriminator")
        return {"d_loss": d_loss, "d_cls": d_cls, "d_total": total}

    # ---------------------------------------------------------------- export

    def serving_endpoints(self):
        """`sample` (`serving_default`): `image` float32 (B, H, W, C) and `domain` int32 (B,)
        -> `{"image"}` with random N(0, 1) attributes; `translate`: `image`, `attribute`
        float32 (B, attribute_dim) and `domain` -> `{"image"}`; `encode_attribute`: `image`
        and its `domain` -> `{"attribute"}`. H and W multiples of 4, domains checked."""
        import tensorflow as tf  # exporting needs TensorFlow; the model does not

        from keras_i2i.export import (
            ServingInput,
            check_ids,
            check_size_multiple,
            spatial_input,
        )

        image = spatial_input("image", self.channels)
        domain = ServingInput("domain", ("B",), tf.int32)
        attribute = ServingInput("attribute", ("B", self.attribute_dim))

        def checked(image, domain):
            image = check_size_multiple(image, "image", self.size_multiple,
                                        "MDMM size_multiple: the content encoder's downsamplings")
            domain = check_ids(domain, "domain", self.num_domains,
                               f"num_domains {self.num_domains}")
            return image, self.domain_codes(domain)

        def sample(image, domain):
            image, codes = checked(image, domain)
            random = tf.random.normal((tf.shape(image)[0], self.attribute_dim))
            return {"image": self._translate(image, codes, random)}

        def translate(image, attribute, domain):
            image, codes = checked(image, domain)
            return {"image": self._translate(image, codes, attribute)}

        def encode_attribute(image, domain):
            image, codes = checked(image, domain)
            return {"attribute": ops.cast(self._attribute(image, codes), "float32")}

        return {
            "sample": (sample, [image, domain]),
            "translate": (translate, [image, attribute, domain]),
            "encode_attribute": (encode_attribute, [image, domain]),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "num_domains": self.num_domains,
            "channels": self.channels,
            "crop_size": self.crop_size,
            "width": self.width,
            "attribute_dim": self.attribute_dim,
            "concat": self.concat,
            "dis_spectral_norm": self.dis_spectral_norm,
            "content_discriminator": self.content_discriminator,
            "content_dis_kernel_size": self.content_dis_kernel_size,
            "content_dis_layers": self.content_dis_layers,
            "d_iter": self.d_iter,
            "lambda_rec": self.lambda_rec,
            "lambda_cls": self.lambda_cls,
            "lambda_cls_G": self.lambda_cls_G,
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

"""INIT: instance-level image-to-image translation (Shen et al., CVPR 2019), on MUNIT's parts.

INIT is MUNIT with object boxes: besides the whole image, every object (a box, cropped and
resized to `object_size`) is encoded into content and style and decoded, and the image gets
three kinds of style: a global style (the whole image), a background style (the image outside
the boxes) and one style per object. A translation decodes the image's content with the
background style and each object's content with that object's style, and pastes the objects
back into their boxes over the background (`instances.compose`).

The paper gives the idea, not code (none was published); the decisions it leaves open, and
why, are in `docs/init.md`. In short:

- Networks per domain: MUNIT's `AdaINGenerator` (content and style encoders, AdaIN decoder)
  and `MsImageDiscriminator`, plus an object discriminator seeing object crops. The object
  branch shares the image branch's generator (`instance_branch="shared"`, the default:
  INIT's joint training lets object-level losses improve the global translation) or has its
  own (`"separate"`).
- Background style: the style encoder's features averaged over the pixels outside every box
  (`StyleEncoder(images, regions=...)`), one pass with the global style.
- Losses, per domain and at both granularities (object terms times `instance_weight`), with
  MUNIT's weights: least-squares GAN on the composed translations (image discriminators) and
  on the translated crops (object discriminators); L1 reconstruction of the image from its
  global style, of each crop from its style and of the image composed from the background
  style and the reconstructed objects; L1 content and style reconstruction of the
  translations (image and crops); optionally the cross-cycle reconstruction and the VGG loss
  as in MUNIT. Padding boxes are weighted out of every object term.
"""

import keras
import numpy as np
from keras import ops

from keras_i2i.losses import (
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    l1,
)
from keras_i2i.models.discriminators import MsImageDiscriminator
from keras_i2i.models.init import instances
from keras_i2i.models.munit.generator import AdaINGenerator
from keras_i2i.models.munit.model import DIRECTIONS, MUNIT

INSTANCE_BRANCHES = ("shared", "separate")


def _split(x, first):
    """`x` cut along the batch axis after its first `first` rows."""
    return x[:first], x[first:]


def _joined(*parts):
    return ops.concatenate([ops.cast(p, parts[0].dtype) for p in parts], axis=0)


@keras.saving.register_keras_serializable(package="keras_i2i")
class INIT(MUNIT):
    """Instance-level unsupervised image-to-image translation (INIT).

    Data: unpaired batches `{"image_a": float32 (B, H, W, channels_a), "boxes_a": float32
    (B, N, 4) x1, y1, x2, y2 in pixels, "classes_a": int32 (B, N), -1 for padding, and the
    same for b}` (`keras_i2i.data.unpaired_boxes`, `keras_i2i.data.synthetic.unpaired_boxes`);
    H and W multiples of 16, N at most `max_boxes` (each domain may pad to its own N).

    Inference:
        - `translate(images, boxes, "a2b", background_style=..., object_styles=..., seed=...)`:
          random or given styles for the background and for each object independently;
          `style_images=` (and `style_boxes=`): the styles of example images; images without
          boxes are translated globally.
        - `encode_styles(images, boxes, "a")` -> global, background and object styles.
        - `export(path)`: `sample_a2b`, `sample_b2a` (image, boxes, num_boxes -> image, random
          styles), `translate_a2b`, `translate_b2a` (also background_style, object_styles) and
          `encode_styles_a`, `encode_styles_b`.

    Args:
        object_size: the side objects are cropped and resized to (a multiple of 16, at least the
            discriminators' smallest input).
        max_boxes: the most boxes an image may have (translate and the loaders refuse more).
        num_classes: object classes (ids 0 .. num_classes - 1; they select no network, the
            object branch serves every class, but a box of another class is refused).
        instance_branch: `"shared"` (objects use the image generators) or `"separate"`.
        border: width of the soft border objects are pasted with, as a fraction of the box
            side (`instances.box_weights`).
        instance_weight: weight of every object-level term relative to its image-level one.
        Others: `MUNIT`'s (generators, discriminators, loss weights, Adam, schedule, seed);
            the object discriminators are configured like the image ones.

    Groups: `"generator"` (every generator), `"discriminator"` (every discriminator).
    """

    def __init__(
        self,
        object_size=64,
        max_boxes=8,
        num_classes=3,
        instance_branch="shared",
        border=0.1,
        instance_weight=1.0,
        **kwargs,
    ):
        if instance_branch not in INSTANCE_BRANCHES:
            raise ValueError(
                f"instance_branch must be one of {INSTANCE_BRANCHES}, got {instance_branch!r}"
            )
        if object_size % 16 or object_size < 16:
            raise ValueError(f"object_size must be a positive multiple of 16, got {object_size}")
        if max_boxes < 1 or num_classes < 1:
            raise ValueError(
                f"max_boxes and num_classes must be positive, got {max_boxes}, {num_classes}"
            )
        self.object_size = object_size
        self.max_boxes = max_boxes
        self.num_classes = num_classes
        self.instance_branch = instance_branch
        self.border = border
        self.instance_weight = instance_weight
        super().__init__(**kwargs)

    # ---------------------------------------------------------------- networks

    def create_networks(self, generator, discriminator):
        super().create_networks(generator, discriminator)
        if self.instance_branch == "separate":
            self.object_generator_a = AdaINGenerator(
                self.channels_a, name="object_generator_a", **generator
            )
            self.object_generator_b = AdaINGenerator(
                self.channels_b, name="object_generator_b", **generator
            )
        self.object_discriminator_a = MsImageDiscriminator(
            name="object_discriminator_a", **discriminator
        )
        self.object_discriminator_b = MsImageDiscriminator(
            name="object_discriminator_b", **discriminator
        )

    def build_networks(self):
        smallest = 2 ** (self.dis_num_scales + self.dis_n_layer - 1)
        if self.object_size < smallest:
            raise ValueError(
                f"object_size {self.object_size} is smaller than {smallest}, the smallest input of "
                f"discriminators with {self.dis_num_scales} scales of {self.dis_n_layer} layers"
            )
        super().build_networks()
        for domain, channels in (("a", self.channels_a), ("b", self.channels_b)):
            crops = ops.zeros((1, self.object_size, self.object_size, channels))
            generator = self._object_generator(domain)
            generator.decode(*generator.encode(crops))
            self._object_discriminator(domain)(crops)

    def optimizer_groups(self):
        groups = super().optimizer_groups()
        if self.instance_branch == "separate":
            groups["generator"] += (
                self.object_generator_a.trainable_variables
                + self.object_generator_b.trainable_variables
            )
        groups["discriminator"] += (
            self.object_discriminator_a.trainable_variables
            + self.object_discriminator_b.trainable_variables
        )
        return groups

    def loss_names(self):
        names = ["d_loss", "g_loss", "g_gan", "o_gan", "x_recon", "o_recon", "composed_recon",
                 "s_recon", "c_recon"]
        if self.recon_x_cyc_weight > 0:
            names.append("x_cycle")
        if self.vgg_weight > 0:
            names.append("vgg")
        return names

    def _object_generator(self, domain):
        if self.instance_branch == "shared":
            return self._generator(domain)
        return self.object_generator_a if domain == "a" else self.object_generator_b

    def _object_discriminator(self, domain):
        return self.object_discriminator_a if domain == "a" else self.object_discriminator_b

    # ---------------------------------------------------------------- the branches

    def _styles(self, images, boxes, valid, domain):
        """`(global, background)` styles (B, style_dim) of images of `domain`, from one pass
        of its style encoder."""
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        background = instances.background_mask(boxes, valid, height, width)
        regions = ops.concatenate([ops.ones_like(background), background], axis=-1)
        styles = self._generator(domain).style_encoder(images, regions=regions)
        return styles[:, 0], styles[:, 1]

    def _object_styles(self, images, boxes, domain):
        """The style of every box's crop, (B * N, style_dim)."""
        return self._object_generator(domain).style_encoder(self._crops(images, boxes))

    def _crops(self, images, boxes):
        return ops.cast(instances.crop_objects(images, boxes, self.object_size), images.dtype)

    def _translate_instances(self, images, boxes, valid, direction, background_style,
                             object_styles):
        """Images (B, H, W, C) of the source domain -> the composed translations (B, H, W, C'),
        float32: the content decoded with `background_style` (B, style_dim), each object's
        content with its style (B * N, style_dim), pasted back."""
        source, target = direction[0], direction[-1]
        content = self._generator(source).content_encoder(images)
        background = self._generator(target).decode(content, background_style)
        objects = self._object_generator(target).decode(
            self._object_generator(source).content_encoder(self._crops(images, boxes)),
            object_styles,
        )
        return instances.compose(background, objects, boxes, valid, self.border)

    # ---------------------------------------------------------------- training

    def train_batch(self, data):
        """MUNIT's step (one draw of random styles; the discriminators update inside the
        generators' forward pass) at the image and the object level."""
        missing = {f"{key}_{d}" for key in ("image", "boxes", "classes") for d in "ab"} - set(data)
        if missing:
            raise ValueError(f"INIT trains on batches with image_a, boxes_a, classes_a and the "
                             f"same for b; missing {sorted(missing)}")
        domains = {d: self._domain_batch(data, d) for d in "ab"}

        def generator_losses():
            codes = {d: self._encode_batch(*domains[d], d) for d in "ab"}
            decoded = {d: self._decode_batch(codes, domains, d) for d in "ab"}
            d_losses, _ = self.minimize(
                {"discriminator": "d_total"},
                lambda: (self._discriminator_losses(domains, codes, decoded), None),
            )
            losses = {}
            for d, other in (("a", "b"), ("b", "a")):
                terms = self._generator_terms(domains, codes, decoded, d, other)
                losses = {k: losses.get(k, 0.0) + v for k, v in terms.items()}
            g_loss = sum(losses.values())
            return {**losses, "g_loss": g_loss, "d_loss": d_losses["d_loss"],
                    "g_total": g_loss + self.weight_decay_penalty("generator")}, None

        losses, _ = self.minimize({"generator": "g_total"}, generator_losses)
        return self.record_losses(losses)

    def _domain_batch(self, data, domain):
        """`(images, boxes, valid (B, N), crop weights (B * N,))` of a domain's batch."""
        boxes, classes = data[f"boxes_{domain}"], data[f"classes_{domain}"]
        if boxes.shape[1] is not None and boxes.shape[1] > self.max_boxes:
            raise ValueError(f"boxes_{domain} has {boxes.shape[1]} boxes per image, more than "
                             f"max_boxes={self.max_boxes}")
        valid = classes >= 0
        return data[f"image_{domain}"], boxes, valid, ops.reshape(ops.cast(valid, "float32"), (-1,))

    def _encode_batch(self, images, boxes, valid, weights, domain):
        """Content and styles of a domain's images and objects, and random styles for the
        translations into it."""
        crops = self._crops(images, boxes)
        style, background_style = self._styles(images, boxes, valid, domain)
        object_content, object_style = self._object_generator(domain).encode(crops)
        return {
            "crops": crops,
            "content": self._generator(domain).content_encoder(images),
            "style": style,
            "background_style": background_style,
            "object_content": object_content,
            "object_style": object_style,
            "random_style": self.random_styles(ops.shape(images)[0]),
            "random_object_style": self.random_styles(ops.shape(crops)[0]),
        }

    def _decode_batch(self, codes, domains, domain):
        """Decodings into `domain` (one batch per decoder): its reconstructions and the
        translations of the other domain, composed with their objects."""
        other = "b" if domain == "a" else "a"
        own, theirs = codes[domain], codes[other]
        recon, background, translated = ops.split(
            self._generator(domain).decode(
                _joined(own["content"], own["content"], theirs["content"]),
                _joined(own["style"], own["background_style"], theirs["random_style"])),
            3, axis=0)
        object_recon, object_translated = _split(
            self._object_generator(domain).decode(
                _joined(own["object_content"], theirs["object_content"]),
                _joined(own["object_style"], theirs["random_object_style"])),
            ops.shape(own["crops"])[0])
        _, own_boxes, own_valid, _ = domains[domain]
        _, their_boxes, their_valid, _ = domains[other]
        return {
            "recon": recon,
            "composed_recon": instances.compose(background, object_recon, own_boxes, own_valid,
                                                self.border),
            "object_recon": object_recon,
            "translated": translated,
            "composed": instances.compose(translated, object_translated, their_boxes,
                                          their_valid, self.border),
            "object_translated": object_translated,
        }

    def _discriminator_losses(self, domains, codes, decoded):
        """Each domain's image discriminator on its images and on the composed translations
        into it, its object discriminator on its crops and the translated crops."""
        d_loss = 0.0
        for d, other in (("a", "b"), ("b", "a")):
            images, _, _, weights = domains[d]
            _, _, _, their_weights = domains[other]
            fake = decoded[d]
            real_loss, fake_loss = discriminator_adversarial_loss(
                *self._discriminate(self._image_discriminator(d), images,
                                    ops.stop_gradient(fake["composed"])),
                self.gan_mode, "sum")
            object_real, object_fake = discriminator_adversarial_loss(
                *self._discriminate(self._object_discriminator(d), codes[d]["crops"],
                                    ops.stop_gradient(fake["object_translated"])),
                self.gan_mode, "sum", real_weight=weights, fake_weight=their_weights)
            d_loss += self.gan_weight * (
                real_loss + fake_loss + self.instance_weight * (object_real + object_fake))
        return {"d_loss": d_loss, "d_total": d_loss + self.weight_decay_penalty("discriminator")}

    def _image_discriminator(self, domain):
        return self.discriminator_a if domain == "a" else self.discriminator_b

    def _generator_terms(self, domains, codes, decoded, d, other):
        """The generator losses of translating `other` -> `d` and reconstructing `d`."""
        images, _, _, weights = domains[d]
        _, _, _, their_weights = domains[other]
        own, theirs, out = codes[d], codes[other], decoded[d]
        w = self.instance_weight
        generator, object_generator = self._generator(d), self._object_generator(d)
        content_back, style_back = generator.encode(out["translated"])
        object_content_back, object_style_back = object_generator.encode(out["object_translated"])
        terms = {
            "g_gan": self.gan_weight * generator_adversarial_loss(
                self._image_discriminator(d)(out["composed"], training=True),
                self.gan_mode, "sum"),
            "o_gan": self.gan_weight * w * generator_adversarial_loss(
                self._object_discriminator(d)(out["object_translated"], training=True),
                self.gan_mode, "sum", sample_weight=their_weights),
            "x_recon": self.recon_x_weight * l1(out["recon"], images),
            "o_recon": self.recon_x_weight * w * l1(out["object_recon"], own["crops"], weights),
            "composed_recon": self.recon_x_weight * l1(out["composed_recon"], images),
            "s_recon": self.recon_s_weight * (
                l1(style_back, theirs["random_style"])
                + w * l1(object_style_back, theirs["random_object_style"], their_weights)),
            "c_recon": self.recon_c_weight * (
                l1(content_back, theirs["content"])
                + w * l1(object_content_back, theirs["object_content"], their_weights)),
        }
        if self.recon_x_cyc_weight > 0:
            # The other domain's images and crops back from their translations into `d`.
            source = self._generator(other)
            source_objects = self._object_generator(other)
            cycle = source.decode(content_back, theirs["style"])
            object_cycle = source_objects.decode(object_content_back, theirs["object_style"])
            their_images = domains[other][0]
            terms["x_cycle"] = self.recon_x_cyc_weight * (
                l1(cycle, their_images) + w * l1(object_cycle, theirs["crops"], their_weights))
        if self.vgg_weight > 0:
            terms["vgg"] = self.vgg_weight * self.vgg_loss(domains[other][0], out["translated"])
        return terms

    # ---------------------------------------------------------------- inference

    def call(self, inputs, training=False):
        """Translations with random styles: `{"image_a", "boxes_a", "classes_a"}` and/or the
        same for b -> `{"image_ab"}` / `{"image_ba"}`, float32 (B, H, W, C)."""
        outputs = {}
        for direction in DIRECTIONS:
            source = direction[0]
            if f"image_{source}" not in inputs:
                continue
            images, boxes, valid, _ = self._domain_batch(inputs, source)
            count = ops.shape(boxes)[0] * ops.shape(boxes)[1]
            outputs[f"image_{direction[0]}{direction[-1]}"] = self._translate_instances(
                images, boxes, valid, direction, self.random_styles(ops.shape(images)[0]),
                self.random_styles(count))
        return outputs

    def encode_styles(self, images, boxes=None, domain="a"):
        """The styles of images of `domain`.

        Args:
            images: (B, H, W, C) in [-1, 1].
            boxes: per image (n_i, 4) or (n_i, 5) rows (see `translate`), or None.

        Returns:
            `{"global": (B, style_dim), "background": (B, style_dim), "objects": (B, N,
            style_dim), "valid": bool (B, N)}` numpy (N at least 1; rows of padding are not
            valid). Without boxes the background style is the global one.
        """
        images = self._check_images(images, self._generator(domain), "images")
        boxes, valid = self._checked_boxes(images, boxes)
        style, background = self._styles(images, boxes, valid, domain)
        objects = self._object_styles(images, boxes, domain)
        return {
            "global": ops.convert_to_numpy(ops.cast(style, "float32")),
            "background": ops.convert_to_numpy(ops.cast(background, "float32")),
            "objects": ops.convert_to_numpy(ops.cast(objects, "float32")).reshape(
                valid.shape + (self.style_dim,)),
            "valid": valid,
        }

    def _checked_boxes(self, images, boxes, what="boxes"):
        if boxes is None:
            boxes = [np.zeros((0, 4))] * len(images)
        if len(boxes) != len(images):
            raise ValueError(f"{what}: one box list per image expected, got {len(boxes)} for "
                             f"{len(images)} images")
        return instances.check_boxes(boxes, images.shape[1], images.shape[2],
                                     self.num_classes, self.max_boxes, what)

    def translate(self, images, boxes=None, direction="a2b", background_style=None,
                  object_styles=None, seed=None, num_styles=None, style_images=None,
                  style_boxes=None):
        """Translates images with their objects.

        Args:
            images: (B, H, W, C) in [-1, 1] of the source domain, H and W multiples of 16.
            boxes: per image a list or array of `(x1, y1, x2, y2)` or `(class, x1, y1, x2,
                y2)` rows in pixels (the annotation files' order), or None: no objects, a
                global translation. Boxes reaching past the image are clipped to it; empty
                boxes, boxes outside the image, classes out of range and more than
                `max_boxes` boxes are errors naming the image and the box.
            direction: `"a2b"` or `"b2a"`.
            background_style: (B or 1, style_dim) the style of the background (of the whole
                image when it has no boxes); random N(0, 1) when None.
            object_styles: (B or 1, N, style_dim) one style per box (N the most boxes of an
                image); random N(0, 1), independent of each other, when None.
            seed: int seed of the random styles.
            num_styles: k random draws of every style not given; the output gets a style axis.
            style_images: (B or 1, H', W', C') example images of the target domain: the
                background style from their background (their whole image without
                `style_boxes`), object n's style from their object n (`style_boxes`, random
                for objects they lack). Not with the explicit styles.
            style_boxes: the boxes of `style_images`, like `boxes`.

        Returns:
            float32 numpy (B, H, W, C_target), or (B, k, H, W, C_target) with `num_styles`.
        """
        source, target = self._direction(direction)
        images = self._check_images(images, source, "images")
        boxes, valid = self._checked_boxes(images, boxes)
        batch, count = valid.shape
        if style_images is not None:
            if background_style is not None or object_styles is not None:
                raise ValueError("Pass style_images or background_style / object_styles, "
                                 "not both.")
            background_style, object_styles = self._example_styles(
                style_images, style_boxes, direction[-1], batch, count, seed)
        k = 1 if num_styles is None else num_styles
        if k < 1:
            raise ValueError(f"num_styles must be a positive int, got {num_styles}")
        rng = np.random.default_rng(seed)
        background_style = self._given_styles(background_style, (batch, k), "background_style",
                                              rng)
        object_styles = self._given_styles(object_styles, (batch, k, count), "object_styles",
                                           rng)
        repeat = lambda x: np.repeat(x, k, axis=0)  # noqa: E731
        outputs = ops.convert_to_numpy(self._translate_instances(
            repeat(images), repeat(boxes), repeat(valid), direction,
            background_style.reshape(-1, self.style_dim),
            object_styles.reshape(-1, self.style_dim)))
        return outputs.reshape(batch, k, *outputs.shape[1:]) if num_styles else outputs

    def _given_styles(self, styles, shape, what, rng):
        """Styles of `shape` + (style_dim,) (batch, k[, N]): given ones broadcast over the
        batch (from 1) and the k draws, or N(0, 1) draws."""
        if styles is None:
            return rng.standard_normal(shape + (self.style_dim,)).astype("float32")
        styles = np.asarray(styles, "float32")
        expected = (shape[0],) + shape[2:] + (self.style_dim,)
        if styles.shape[1:] != expected[1:] or len(styles) not in (1, shape[0]):
            raise ValueError(f"{what} must be ({shape[0]} or 1, "
                             f"{', '.join(map(str, expected[1:]))}), got shape {styles.shape}")
        styles = np.broadcast_to(styles, expected)
        return np.broadcast_to(styles[:, None], shape + (self.style_dim,)).copy()

    def _example_styles(self, style_images, style_boxes, domain, batch, count, seed):
        """Background (B, style_dim) and object (B, count, style_dim) styles of examples."""
        generator = self._generator(domain)
        style_images = self._check_images(style_images, generator, "style_images")
        if len(style_images) not in (1, batch):
            raise ValueError(f"style_images: expected {batch} or 1 images, got "
                             f"{len(style_images)}")
        styles = self.encode_styles(style_images, style_boxes, domain)
        rng = np.random.default_rng(seed)
        objects = rng.standard_normal((len(style_images), count, self.style_dim))
        found = styles["objects"][:, :count]
        known = styles["valid"][:, :count, None]
        objects[:, :found.shape[1]] = np.where(known, found, objects[:, :found.shape[1]])
        return styles["background"], objects.astype("float32")

    def sample_columns(self, batch):
        """Progress grid: each domain's input, its translation with random styles (objects
        pasted), and its reconstruction from the background and object styles."""
        columns = {}
        for source, target in (("a", "b"), ("b", "a")):
            images, boxes, valid, _ = self._domain_batch(batch, source)
            columns[source] = images
            columns[f"{source}2{target}"] = self({f"{key}_{source}": batch[f"{key}_{source}"]
                                                  for key in ("image", "boxes", "classes")}
                                                 )[f"image_{source}{target}"]
            style, background = self._styles(images, boxes, valid, source)
            objects = self._object_styles(images, boxes, source)
            columns[f"{source} recon"] = self._translate_instances(
                images, boxes, valid, f"{source}2{source}", background, objects)
        return columns

    # ---------------------------------------------------------------- export

    def serving_endpoints(self):
        """Per direction: `sample_a2b` (`serving_default`), `sample_b2a`: `image` float32 (B,
        H, W, C), `boxes` float32 (B, N, 4) x1, y1, x2, y2 in pixels, `num_boxes` int32 (B,)
        (the first `num_boxes` rows of each image are its boxes) -> `{"image"}` with random
        styles; `translate_a2b`, `translate_b2a`: also `background_style` (B, style_dim) and
        `object_styles` (B, N, style_dim); `encode_styles_a`, `encode_styles_b`: `image`,
        `boxes`, `num_boxes` -> `{"global_style", "background_style", "object_styles"}`.
        The graph checks the shapes, that 0 <= num_boxes <= N <= max_boxes and the boxes as
        `translate` does (`_served_boxes`)."""
        import tensorflow as tf  # exporting needs TensorFlow; the model does not

        from keras_i2i.export import ServingInput, check_size_multiple, spatial_input

        boxes_input = ServingInput("boxes", ("B", "N", 4))
        count_input = ServingInput("num_boxes", ("B",), tf.int32)
        background_input = ServingInput("background_style", ("B", self.style_dim))
        objects_input = ServingInput("object_styles", ("B", "N", self.style_dim))

        def inputs(domain):
            return [spatial_input("image", self._generator(domain).channels), boxes_input,
                    count_input]

        def checked(image, boxes, num_boxes):
            image = check_size_multiple(image, "image", self.size_multiple,
                                        "INIT size_multiple: the downsamplings of its encoders")
            count = tf.shape(boxes)[1]
            in_range = tf.debugging.assert_less_equal(
                count, self.max_boxes, message=f"boxes: more than max_boxes={self.max_boxes}")
            counts = tf.debugging.assert_less_equal(
                num_boxes, count, message="num_boxes must be at most the boxes' N")
            positive = tf.debugging.assert_non_negative(num_boxes, message="num_boxes < 0")
            with tf.control_dependencies([in_range, counts, positive]):
                valid = tf.range(count)[None, :] < num_boxes[:, None]
            return image, _served_boxes(boxes, valid, tf.shape(image)[1], tf.shape(image)[2]), valid

        def sampling(direction):
            def sample(image, boxes, num_boxes):
                image, boxes, valid = checked(image, boxes, num_boxes)
                batch = tf.shape(image)[0]
                return {"image": self._translate_instances(
                    image, boxes, valid, direction,
                    tf.random.normal((batch, self.style_dim)),
                    tf.random.normal((batch * tf.shape(boxes)[1], self.style_dim)))}

            return sample

        def translation(direction):
            def translate(image, boxes, num_boxes, background_style, object_styles):
                image, boxes, valid = checked(image, boxes, num_boxes)
                return {"image": self._translate_instances(
                    image, boxes, valid, direction, background_style,
                    tf.reshape(object_styles, (-1, self.style_dim)))}

            return translate

        def style_encoding(domain):
            def encode(image, boxes, num_boxes):
                image, boxes, valid = checked(image, boxes, num_boxes)
                style, background = self._styles(image, boxes, valid, domain)
                objects = self._object_styles(image, boxes, domain)
                shape = tf.concat([tf.shape(boxes)[:2], [self.style_dim]], 0)
                return {"global_style": tf.cast(style, tf.float32),
                        "background_style": tf.cast(background, tf.float32),
                        "object_styles": tf.reshape(tf.cast(objects, tf.float32), shape)}

            return encode

        return {
            **{f"sample_{d}": (sampling(d), inputs(d[0])) for d in DIRECTIONS},
            **{f"translate_{d}": (translation(d), inputs(d[0]) + [background_input,
                                                                objects_input])
               for d in DIRECTIONS},
            **{f"encode_styles_{d}": (style_encoding(d), inputs(d)) for d in ("a", "b")},
        }

    def get_config(self):
        return {
            **super().get_config(),
            "object_size": self.object_size,
            "max_boxes": self.max_boxes,
            "num_classes": self.num_classes,
            "instance_branch": self.instance_branch,
            "border": self.border,
            "instance_weight": self.instance_weight,
        }


def _served_boxes(boxes, valid, height, width):
    """The served graph's `instances.check_boxes`: boxes (B, N, 4) clipped to the `height` x
    `width` image, once the graph has checked that every valid one (`valid` (B, N)) has x1 < x2
    and y1 < y2 and overlaps the image."""
    import tensorflow as tf  # exporting needs TensorFlow; the model does not

    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
    height, width = tf.cast(height, boxes.dtype), tf.cast(width, boxes.dtype)
    good = (x1 < x2) & (y1 < y2) & (x2 > 0) & (y2 > 0) & (x1 < width) & (y1 < height)
    bad = tf.where(valid & tf.logical_not(good))
    message = ("boxes: each of the first num_boxes boxes must have x1 < x2 and y1 < y2 and "
               "overlap the {}x{} image; {} do not, the first ([image, box] {}): {}")
    first = bad[:1]
    checked = tf.debugging.Assert(tf.equal(tf.size(bad), 0), [tf.strings.format(
        message, [width, height, tf.shape(bad)[0], first, tf.gather_nd(boxes, first)])])
    with tf.control_dependencies([checked]):
        return tf.clip_by_value(boxes, 0.0, tf.stack([width, height, width, height]))

"""pix2pixHD (Wang et al., CVPR 2018): the model, its losses and training step.

Generator input: the one-hot label map (or an RGB image with `label_nc=0`), the instance
boundary map, and with `instance_feat` the encoder's instance-wise features. The multi-scale
discriminator sees the label map and boundary map with a real or generated image. Losses
(section 3.3 of the paper): least-squares GAN, discriminator feature matching and VGG
perceptual loss, both weighted 10.
"""

import keras
import numpy as np
from keras import ops

from keras_i2i.layers import instance_boundary_map
from keras_i2i.layers.conv_routes import one_hot_lookup
from keras_i2i.losses import (
    VGGPerceptualLoss,
    discriminator_adversarial_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from keras_i2i.models.base import GANModel, concrete, int_maps, with_target
from keras_i2i.models.discriminators import MultiscaleDiscriminator
from keras_i2i.models.pix2pixhd import clustering
from keras_i2i.models.pix2pixhd.encoder import FeatureEncoder
from keras_i2i.models.pix2pixhd.generator import DEFAULT_INITIALIZER, CoarseToFineGenerator
from keras_i2i.models.pix2pixhd.schedule import EpochLinearDecay, FixCoarseLevels

GAN_MODES = ("lsgan", "nsgan")
SPATIAL_KEYS = ("label", "instance", "input", "image", "features", "cluster_index")


@keras.saving.register_keras_serializable(package="keras_i2i")
class Pix2PixHD(GANModel):
    """pix2pixHD: coarse-to-fine generator, multi-scale discriminator, instance features.

    Inputs are dicts of NHWC tensors (the keys of `keras_i2i.data.paired_labels` /
    `paired_images`):
        "label": int (B, H, W, 1) class ids 0..label_nc-1 (with `label_nc > 0`),
        "input": float (B, H, W, input_nc) in [-1, 1] (RGB input, `label_nc=0`),
        "instance": int (B, H, W, 1) instance ids (with `use_instance`),
        "image": float (B, H, W, output_nc) in [-1, 1], the real image (training; at
            inference, with `instance_feat`, the image whose instance features to encode).
    At inference a model with `instance_feat` takes its features from "features" (float
    (B, H, W, feat_num), given), else "cluster_index" (int (B, H, W, 1): the k-means cluster
    of each pixel's instance), else "image" (encoded), else from the stored clusters, one
    picked per instance by `choose_clusters`. H and W must be multiples of `size_multiple`,
    or are padded (symmetrically) and the output cropped with `pad_inputs=True`.

    `call` returns the generated images (B, H, W, output_nc) in [-1, 1]. In a model compiled
    with XLA (the default), inference convolves the one-hot labels by looking up kernel rows
    (`keras_i2i.layers.conv_routes.one_hot_conv`: the same values, the first convolution 9x faster).

    Args (the reference's option names):
        label_nc: number of label classes; 0 for an RGB input image.
        input_nc: channels of the RGB input (`label_nc=0`).
        output_nc: image channels.
        use_instance: add the instance boundary map as an input channel (the reference's
            `not no_instance`).
        instance_feat: condition on instance-wise features from the `encoder`.
        feat_num, nef, n_downsample_E: the encoder's feature channels, width, downsamplings.
        n_clusters: k-means clusters per class (`cluster_features`).
        ngf, n_downsample_global, n_blocks_global, n_local_enhancers, n_blocks_local: the
            generator (`CoarseToFineGenerator`); `n_local_enhancers=0` is `netG='global'`.
        norm: "instance" or "batch".
        ndf, n_layers_D, num_D: the discriminator (`MultiscaleDiscriminator` with
            `n_layers = n_layers_D + 1`).
        gan_mode: "lsgan" (least squares) or "nsgan" (the reference's `no_lsgan`: binary
            cross-entropy).
        lambda_feat: weight of the discriminator feature matching loss (0: off).
        lambda_vgg: weight of the VGG loss (0: off, and no VGG is built).
        vgg_weights, vgg_preprocessing: as `VGGPerceptualLoss` (`None`: random weights).
        lr, beta1: Adam's learning rate and beta_1 for both networks.
        niter, niter_decay: epochs at `lr`, then epochs of linear decay to 0.
        niter_fix_global: first epochs of training only the finest local enhancer.
        pad_inputs: pad inputs of other sizes instead of raising an error.
        kernel_initializer: initializer of every convolution (the reference's N(0, 0.02)).

    Networks: `generator` (`CoarseToFineGenerator`), `discriminator`
    (`MultiscaleDiscriminator`), `encoder` (`FeatureEncoder`, None without `instance_feat`).
    With `instance_feat` the model also holds `cluster_centers` (label_nc, n_clusters,
    feat_num) and `cluster_counts` (label_nc,), filled by `cluster_features` and saved with
    the weights.
    """

    def __init__(
        self,
        label_nc=35,
        input_nc=3,
        output_nc=3,
        use_instance=True,
        instance_feat=False,
        feat_num=3,
        nef=16,
        n_downsample_E=4,
        n_clusters=10,
        ngf=64,
        n_downsample_global=4,
        n_blocks_global=9,
        n_local_enhancers=0,
        n_blocks_local=3,
        norm="instance",
        ndf=64,
        n_layers_D=3,
        num_D=2,
        gan_mode="lsgan",
        lambda_feat=10.0,
        lambda_vgg=10.0,
        vgg_weights="imagenet",
        vgg_preprocessing="caffe",
        lr=2e-4,
        beta1=0.5,
        niter=100,
        niter_decay=100,
        niter_fix_global=0,
        pad_inputs=False,
        kernel_initializer=DEFAULT_INITIALIZER,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if label_nc < 0:
            raise ValueError(f"label_nc must be >= 0 (0: RGB input), got {label_nc}")
        if gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}")
        if instance_feat and not (label_nc and use_instance):
            raise ValueError(
                "instance_feat=True needs label maps and instance maps (label_nc > 0 and "
                f"use_instance=True), got label_nc={label_nc}, use_instance={use_instance}"
            )
        if niter_fix_global and not n_local_enhancers:
            raise ValueError("niter_fix_global needs a local enhancer (n_local_enhancers >= 1)")
        self.label_nc = label_nc
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.use_instance = use_instance
        self.instance_feat = instance_feat
        self.feat_num = feat_num
        self.nef = nef
        self.n_downsample_E = n_downsample_E
        self.n_clusters = n_clusters
        self.ngf = ngf
        self.n_downsample_global = n_downsample_global
        self.n_blocks_global = n_blocks_global
        self.n_local_enhancers = n_local_enhancers
        self.n_blocks_local = n_blocks_local
        self.norm = norm
        self.ndf = ndf
        self.n_layers_D = n_layers_D
        self.num_D = num_D
        self.gan_mode = gan_mode
        self.lambda_feat = lambda_feat
        self.lambda_vgg = lambda_vgg
        self.vgg_weights = vgg_weights
        self.vgg_preprocessing = vgg_preprocessing
        self.lr = lr
        self.beta1 = beta1
        self.niter = niter
        self.niter_decay = niter_decay
        self.niter_fix_global = niter_fix_global
        self.pad_inputs = pad_inputs
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        common = dict(
            norm=norm, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy
        )
        self.generator = CoarseToFineGenerator(
            ngf,
            n_downsample_global,
            n_blocks_global,
            n_local_enhancers,
            n_blocks_local,
            output_nc,
            one_hot_channels=label_nc,
            name="generator",
            **common,
        )
        self.discriminator = MultiscaleDiscriminator(
            num_D, n_layers_D + 1, ndf, name="discriminator", **common
        )
        self.encoder = (
            FeatureEncoder(feat_num, nef, n_downsample_E, name="encoder", **common)
            if instance_feat
            else None
        )
        self.vgg_loss = (
            VGGPerceptualLoss(vgg_weights, vgg_preprocessing) if lambda_vgg > 0 else None
        )
        self.build()

    # ---------------------------------------------------------------- inputs

    @property
    def size_multiple(self):
        """What H and W must be multiples of: the generator's (and encoder's) downsampling."""
        multiple = self.generator.size_multiple
        if self.encoder is not None:
            multiple = max(multiple, self.encoder.size_multiple)
        return multiple

    @property
    def condition_channels(self):
        """Channels of the label input: one-hot labels (or the RGB input), boundary map."""
        return (self.label_nc or self.input_nc) + int(self.use_instance)

    def encode_input(self, inputs):
        """The label condition (B, H, W, condition_channels) float32: one-hot labels (or the
        RGB input), then the instance boundary map."""
        if self.label_nc:
            label = ops.cast(inputs["label"], "int32")[..., 0]
            channels = [ops.one_hot(label, self.label_nc, dtype="float32")]
        else:
            channels = [ops.cast(inputs["input"], "float32")]
        if self.use_instance:
            channels.append(instance_boundary_map(inputs["instance"]))
        return ops.concatenate(channels, axis=-1)

    def _fit_size(self, inputs):
        """Checks (or pads, with `pad_inputs`) the spatial size; returns the inputs and H, W."""
        first = inputs["label" if self.label_nc else "input"]
        height, width = ops.shape(first)[1], ops.shape(first)[2]
        multiple = self.size_multiple
        if not self.pad_inputs:
            static = [n for n in (height, width) if isinstance(n, int)]
            if any(n % multiple for n in static):
                raise ValueError(
                    f"Pix2PixHD takes inputs whose height and width are multiples of {multiple}"
                    f", got {height}x{width}; build it with pad_inputs=True to pad them."
                )
            if len(static) < 2:  # a TensorFlow graph of unknown sizes
                import tensorflow as tf

                tf.debugging.assert_equal(
                    (height % multiple, width % multiple),
                    (0, 0),
                    message=f"Pix2PixHD input height and width must be multiples of {multiple}",
                )
            return inputs, (height, width)
        pads = [[0, 0], [0, (-height) % multiple], [0, (-width) % multiple], [0, 0]]
        padded = {
            key: ops.pad(value, pads, mode="symmetric") if key in SPATIAL_KEYS else value
            for key, value in inputs.items()
        }
        return padded, (height, width)

    # ---------------------------------------------------------------- networks

    def build_networks(self):
        size = 2 * self.size_multiple
        inputs = {"image": ops.zeros((1, size, size, self.output_nc))}
        if self.label_nc:
            inputs["label"] = ops.zeros((1, size, size, 1), "int32")
        else:
            inputs["input"] = ops.zeros((1, size, size, self.input_nc))
        if self.use_instance:
            inputs["instance"] = ops.zeros((1, size, size, 1), "int32")
        fake, condition = self.generate(inputs)
        self.discriminator(ops.concatenate([condition, fake], axis=-1))
        if self.instance_feat:
            state = dict(trainable=False, autocast=False)
            self.cluster_centers = self.add_weight(
                shape=(self.label_nc, self.n_clusters, self.feat_num),
                initializer="zeros",
                name="cluster_centers",
                **state,
            )
            self.cluster_counts = self.add_weight(
                shape=(self.label_nc,),
                dtype="int32",
                initializer="zeros",
                name="cluster_counts",
                **state,
            )

    def _features(self, inputs, training):
        """The instance features (B, H, W, feat_num) float32: encoded from the real image when
        training, else as the class docstring says."""
        if training or ("image" in inputs and not {"features", "cluster_index"} & set(inputs)):
            features = self.encoder([inputs["image"], inputs["instance"]])
        elif "features" in inputs:
            features = inputs["features"]
        else:
            index = inputs.get("cluster_index")
            if index is None:
                index = self.choose_clusters(inputs["label"], inputs["instance"])
            features = self.features_from_clusters(inputs["label"], index)
        return ops.cast(features, "float32")

    def generate(self, inputs, training=False, lookup=False):
        """The generated images (float32) of inputs of a valid size, and the label condition;
        `lookup`: convolve the one-hot labels with `one_hot_conv` (code compiled by XLA)."""
        condition = self.encode_input(inputs)
        generator_input = condition
        if self.instance_feat:
            generator_input = ops.concatenate(
                [condition, self._features(inputs, training)], axis=-1
            )
        with one_hot_lookup(lookup):
            fake = self.generator(generator_input, training=training)
        return ops.cast(fake, "float32"), condition

    def call(self, inputs, training=False):
        return self._translate(inputs, training, lookup=self.traced_for_xla())

    def _translate(self, inputs, training=False, lookup=False):
        inputs, (height, width) = self._fit_size(inputs)
        fake, _ = self.generate(inputs, training, lookup)
        return fake[:, :height, :width]

    def translate(self, inputs, instances=None, style_images=None, seed=0, choices=None):
        """Images for label maps (or RGB inputs), each instance's features from the stored
        clusters or from a real image.

        Args:
            inputs: int (B, H, W) or (B, H, W, 1) label ids in 0..label_nc-1, or with
                `label_nc=0` float (B, H, W, input_nc) images in [-1, 1]; H and W multiples
                of `size_multiple` unless the model pads (`pad_inputs`).
            instances: int instance ids of the labels' shape (models with `use_instance`).
            style_images: with `instance_feat`, (B, H, W, output_nc) real images in [-1, 1]
                whose instance-wise encoded features are used (the reference's
                `--use_encoded_image`); else each instance takes a stored cluster.
            seed: int, which clusters the instances take (`choose_clusters`).
            choices: optional `{instance_id: cluster}` for some instances.

        Returns:
            float32 numpy (B, H, W, output_nc) in [-1, 1].
        """
        batch = self._checked_inputs(inputs, instances)
        if style_images is not None or choices is not None:
            if not self.instance_feat:
                raise ValueError("style_images and choices need a model with instance "
                                 "features (instance_feat=True)")
        if style_images is not None:
            style_images = np.asarray(style_images, "float32")
            expected = (*batch[next(iter(batch))].shape[:3], self.output_nc)
            if style_images.shape != expected:
                raise ValueError(f"style_images must be {expected} (the real images of the "
                                 f"label maps), got shape {style_images.shape}")
            batch["image"] = style_images
        elif self.instance_feat:
            batch["cluster_index"] = self.choose_clusters(
                batch["label"], batch["instance"], choices, seed)
        return ops.convert_to_numpy(self._translate(batch))

    def _checked_inputs(self, inputs, instances):
        """`translate`'s inputs as the model's input dict, after checking them."""
        if self.label_nc:
            labels = int_maps(inputs, "labels")
            if labels.min() < 0 or labels.max() >= self.label_nc:
                raise ValueError(f"labels must be ids in 0..{self.label_nc - 1} (label_nc "
                                 f"{self.label_nc}), got ids {labels.min()}..{labels.max()}")
            batch = {"label": labels}
        else:
            images = np.asarray(inputs, "float32")
            if images.ndim != 4 or images.shape[-1] != self.input_nc:
                raise ValueError(f"inputs must be (B, H, W, {self.input_nc}) images (label_nc "
                                 f"0), got shape {images.shape}")
            batch = {"input": images}
        first = next(iter(batch.values()))
        if self.use_instance:
            if instances is None:
                raise ValueError("This Pix2PixHD model uses instance maps (use_instance=True): "
                                 "pass the instance map with the inputs.")
            instances = int_maps(instances, "instances")
            if instances.shape[:3] != first.shape[:3]:
                raise ValueError(f"instances have shape {instances.shape}, expected the "
                                 f"inputs' {first.shape[:3]} + (1,)")
            batch["instance"] = instances
        height, width = first.shape[1:3]
        if not self.pad_inputs and (height % self.size_multiple or width % self.size_multiple):
            raise ValueError(f"inputs must have H and W multiples of {self.size_multiple}, got "
                             f"{height}x{width}; build the model with pad_inputs=True to pad")
        return batch

    # ---------------------------------------------------------------- training

    def compile(self, optimizers=None, jit_compile=True, **kwargs):
        """`GANModel.compile`, with XLA by default: on CPU the label2city_512p training step
        runs 1.5 to 5 times faster than with TensorFlow's graph executor, whose gradients of
        the 7 x 7 input and output convolutions are slow (`benchmarks/run.py --models
        pix2pixhd --modes graph xla`).
        `jit_compile=False` traces without XLA, which starts sooner (tiny models, tests)."""
        super().compile(optimizers=optimizers, jit_compile=jit_compile, **kwargs)

    def optimizer_groups(self):
        generator = self.generator.trainable_variables
        if self.encoder is not None:
            generator = generator + self.encoder.trainable_variables
        return {"generator": generator, "discriminator": self.discriminator.trainable_variables}

    def default_optimizers(self):
        return {
            group: keras.optimizers.Adam(self.lr, beta_1=self.beta1, beta_2=0.999)
            for group in ("generator", "discriminator")
        }

    def loss_names(self):
        names = ["g_gan"]
        if self.lambda_feat > 0:
            names.append("g_feat")
        if self.lambda_vgg > 0:
            names.append("g_vgg")
        return names + ["d_real", "d_fake"]

    def compute_losses(self, data, training=True):
        """Every loss of one batch: `{"g_gan", "g_feat", "g_vgg", "d_real", "d_fake"}` (the
        active ones) and the totals `"generator"` (their sum) and `"discriminator"`
        (`(d_real + d_fake) / 2`), float32 scalars.

        The discriminator runs once, on the generated and the real pairs together; the
        generator's losses use those outputs (the real features as constants) and so does
        the discriminator's, the generated image taken as given: the same values and
        gradients as the reference's three discriminator passes.
        """
        padded, (height, width) = self._fit_size(data)
        fake, condition = self.generate(padded, training)
        fake, condition = fake[:, :height, :width], condition[:, :height, :width]
        real = ops.cast(data["image"], "float32")
        # One discriminator call on the generated and the real pairs stacked along the batch
        # (its norms are per sample, so this is exact), then split.
        pairs = ops.concatenate([condition, condition], 0), ops.concatenate([fake, real], 0)
        outputs = self.discriminator(ops.concatenate(pairs, -1), training=training)
        fake_outputs, real_outputs = (
            [[ops.split(feature, 2)[half] for feature in scale] for scale in outputs]
            for half in (0, 1)
        )
        losses = {"g_gan": generator_adversarial_loss(fake_outputs, self.gan_mode, "sum")}
        if self.lambda_feat > 0:
            losses["g_feat"] = self.lambda_feat * feature_matching_loss(
                real_outputs, fake_outputs, weighting="pix2pixhd"
            )
        if self.lambda_vgg > 0:
            losses["g_vgg"] = self.lambda_vgg * self.vgg_loss(real, fake)
        losses["d_real"], losses["d_fake"] = discriminator_adversarial_loss(
            real_outputs, fake_outputs, self.gan_mode, "sum"
        )
        generator = [losses[name] for name in ("g_gan", "g_feat", "g_vgg") if name in losses]
        return {
            **losses,
            "generator": sum(generator),
            "discriminator": 0.5 * (losses["d_real"] + losses["d_fake"]),
        }

    def train_batch(self, data):
        # One forward pass; each group takes the gradient of its own total with respect to
        # its own variables (so the discriminator's never reaches the generator).
        losses, _ = self.minimize({"generator": "generator", "discriminator": "discriminator"},
                                  lambda: (self.compute_losses(data), None))
        return self.record_losses(losses)

    def training_callbacks(self):
        """The reference's schedule for `fit(..., epochs=niter + niter_decay)`:
        `EpochLinearDecay` of both learning rates over the last `niter_decay` epochs, and
        `FixCoarseLevels` for the first `niter_fix_global` epochs (when set)."""
        callbacks = []
        if self.niter_decay:
            rates = {"generator": self.lr, "discriminator": self.lr}
            callbacks.append(EpochLinearDecay(rates, self.niter, self.niter_decay))
        if self.niter_fix_global:
            callbacks.append(FixCoarseLevels(self.niter_fix_global))
        return callbacks

    def load_coarse_model(self, coarse):
        """Loads a trained coarser `Pix2PixHD` into this one, as the reference's
        `--load_pretrain` does when it starts label2city_1024p from label2city_512p.

        The coarse model's global generator (without its output layers) and local enhancers
        become this model's global generator and coarsest enhancers; its discriminator
        scales go to the scales of the same resolution here (this model's finest scales
        stay new when it has more); its encoder is copied whole.

        Args:
            coarse: a `Pix2PixHD` whose global generator has this one's width
                (`coarse.ngf == self.ngf * 2 ** (self.n_local_enhancers -
                coarse.n_local_enhancers)`), depth and blocks, and fewer local enhancers.
        """
        if coarse.n_local_enhancers >= self.n_local_enhancers:
            raise ValueError(
                f"load_coarse_model needs a model with fewer local enhancers than this one "
                f"({self.n_local_enhancers}), got {coarse.n_local_enhancers}"
            )
        pairs = [(coarse.generator.global_generator, self.generator.global_generator)]
        pairs += zip(coarse.generator.local_enhancers, self.generator.local_enhancers)
        blocks = []
        for source, target in pairs:
            depths = [
                (len(getattr(source, part)), len(getattr(target, part)))
                for part in ("front_end", "residual_blocks")
            ]
            if any(a != b for a, b in depths):
                raise ValueError(
                    f"The coarse model's {source.name} has another depth than {target.name} "
                    f"here: (front-end, residual) blocks {[a for a, _ in depths]} vs "
                    f"{[b for _, b in depths]}"
                )
            n_back = len(target.back_end) - int(target.include_output)
            blocks += zip(source.front_end, target.front_end)
            blocks += zip(source.residual_blocks, target.residual_blocks)
            blocks += zip(source.back_end[:n_back], target.back_end[:n_back])
        scales = min(coarse.num_D, self.num_D)
        blocks += [
            pair
            for k in range(1, scales + 1)
            for pair in zip(coarse.discriminator.scales[-k], self.discriminator.scales[-k])
        ]
        if self.encoder is not None and coarse.encoder is not None:
            blocks.append((coarse.encoder, self.encoder))
        for source, target in blocks:
            _copy_weights(source, target)

    # ---------------------------------------------------------------- instance features

    def encode_features(self, image, instance):
        """The encoder's instance-wise features (B, H, W, feat_num) of real images."""
        if self.encoder is None:
            raise ValueError("encode_features needs a model built with instance_feat=True")
        return self.encoder([image, instance])

    def cluster_features(self, dataset, min_area=clustering.MIN_AREA, seed=0):
        """Clusters the instance features of a dataset per class and stores the centres.

        Every instance covering more than `min_area` of its image gives its encoded feature
        vector; each class's vectors are clustered with k-means into `n_clusters` (or fewer
        when the class has fewer instances) and the centres are stored in `cluster_centers`,
        their numbers in `cluster_counts`.

        Args:
            dataset: batches of `{"label", "instance", "image"}` (e.g. the training data,
                unshuffled and without augmentation, as the reference encodes it).
            min_area: smallest instance, as a fraction of the image.
            seed: seed of the k-means seeding.

        Returns:
            `cluster_counts` as numpy: the number of centres of every class.
        """
        if self.encoder is None:
            raise ValueError("cluster_features needs a model built with instance_feat=True")
        vectors, classes = [], []
        for batch in dataset:
            padded, (height, width) = self._fit_size(batch)
            features = self.encoder([padded["image"], padded["instance"]])[:, :height, :width]
            found = clustering.instance_features(
                features, batch["label"], batch["instance"], min_area
            )
            vectors.append(found[0])
            classes.append(found[1])
        if not sum(len(v) for v in vectors):
            raise ValueError(f"no instance in the dataset covers more than {min_area} of its image")
        centers, counts = clustering.cluster_by_class(
            np.concatenate(vectors), np.concatenate(classes), self.label_nc, self.n_clusters, seed
        )
        self.cluster_centers.assign(centers)
        self.cluster_counts.assign(counts)
        return counts

    def features_from_clusters(self, label, cluster_index):
        """Instance features from the stored clusters: (B, H, W, feat_num) float32.

        Args:
            label: int (B, H, W, 1) class ids.
            cluster_index: int (B, H, W, 1), each pixel's cluster (the same over an
                instance); clipped to the clusters its class has. Classes without clusters
                get zero features.
        """
        label = ops.cast(label, "int32")[..., 0]
        counts = ops.take(self.cluster_counts, label)
        index = ops.clip(ops.cast(cluster_index, "int32")[..., 0], 0, ops.maximum(counts - 1, 0))
        centers = ops.reshape(self.cluster_centers, (-1, self.feat_num))
        features = ops.take(centers, label * self.n_clusters + index, axis=0)
        return features * ops.cast(counts > 0, "float32")[..., None]

    def choose_clusters(self, label, instance, choices=None, seed=0):
        """A "cluster_index" map picking one stored cluster per instance.

        An instance takes `choices[id]` when given, otherwise a cluster of its class picked by
        a hash of its id and `seed`: the same id and seed give the same cluster, in any image
        and whatever `choices` says about the other instances. Runs in graph mode too (the
        serving endpoints use it); called eagerly it checks the clusters and choices.

        Args:
            label, instance: int (B, H, W, 1) maps.
            choices: optional `{instance_id: cluster}`.
            seed: int, another seed gives other picks.

        Returns:
            int32 (B, H, W, 1), the "cluster_index" input.
        """
        if self.encoder is None:
            raise ValueError("choose_clusters needs a model built with instance_feat=True")
        label, instance = ops.cast(label, "int32"), ops.cast(instance, "int32")
        counts = ops.take(self.cluster_counts, label)
        if concrete(counts):
            _check_choices(counts, instance, choices or {})
        offset = ops.cast(seed * 0x9E3779B9 % 2**32, "uint32")
        mixed = _mix(ops.cast(instance, "uint32") + offset)
        index = ops.cast(mixed % ops.cast(ops.maximum(counts, 1), "uint32"), "int32")
        for instance_id, cluster in (choices or {}).items():
            index = ops.where(ops.equal(instance, instance_id), cluster, index)
        return index

    # ---------------------------------------------------------------- export

    def serving_endpoints(self):
        """`translate` (the default): label map (or RGB input) and instance map -> image,
        instance features from the stored clusters (`choose_clusters`, seed 0) with
        `instance_feat`; then `translate_clusters` (+ "cluster_index"),
        `translate_features` (+ "features") and `translate_encoded` (+ the "image" whose
        instance features to use). The graph checks that the inputs have one (B, H, W), the
        label ids, without `pad_inputs` the size, and that `translate` has clusters to pick."""
        import tensorflow as tf  # exporting needs TensorFlow; the model does not

        from keras_i2i.export import spatial_input

        base = (
            [spatial_input("label", 1, tf.int32)]
            if self.label_nc
            else [spatial_input("input", self.input_nc)]
        )
        if self.use_instance:
            base.append(spatial_input("instance", 1, tf.int32))

        def endpoint(*extra):
            signature = base + list(extra)

            def translate(*tensors):
                inputs = {s.name: tensor for s, tensor in zip(signature, tensors)}
                inputs = self._checked_served_inputs(inputs)
                return {"image": ops.cast(self._translate(inputs), "float32")}

            return translate, signature

        endpoints = {"translate": endpoint()}
        if self.instance_feat:
            endpoints["translate_clusters"] = endpoint(spatial_input("cluster_index", 1, tf.int32))
            endpoints["translate_features"] = endpoint(spatial_input("features", self.feat_num))
            endpoints["translate_encoded"] = endpoint(spatial_input("image", self.output_nc))
        return endpoints

    def _checked_served_inputs(self, inputs):
        """The inputs, once the served graph has checked the label ids, the size and, where
        the instance features come from stored clusters it picks, that there are some (as
        `choose_clusters` checks eagerly)."""
        from keras_i2i.export import check_ids, check_size_multiple

        key = "label" if self.label_nc else "input"
        first = inputs[key]
        if self.label_nc:
            first = check_ids(first, key, self.label_nc, f"label_nc {self.label_nc}")
        if not self.pad_inputs:
            reason = "Pix2PixHD size_multiple; pad_inputs=True pads other sizes"
            first = check_size_multiple(first, key, self.size_multiple, reason)
        if self.instance_feat and not {"features", "cluster_index", "image"} & set(inputs):
            first = _clusters_checked(first, self.cluster_counts)
        return {**inputs, key: first}

    def sample_columns(self, batch):
        """Label map (or RGB input), the image generated with the instance features of the
        real image (as in training; from the stored clusters when there is no image), and the
        real image."""
        source = batch["label"] if self.label_nc else batch["input"]
        return with_target({"input": source, "output": self(batch)}, batch)

    def get_config(self):
        return {
            **super().get_config(),
            "label_nc": self.label_nc,
            "input_nc": self.input_nc,
            "output_nc": self.output_nc,
            "use_instance": self.use_instance,
            "instance_feat": self.instance_feat,
            "feat_num": self.feat_num,
            "nef": self.nef,
            "n_downsample_E": self.n_downsample_E,
            "n_clusters": self.n_clusters,
            "ngf": self.ngf,
            "n_downsample_global": self.n_downsample_global,
            "n_blocks_global": self.n_blocks_global,
            "n_local_enhancers": self.n_local_enhancers,
            "n_blocks_local": self.n_blocks_local,
            "norm": self.norm,
            "ndf": self.ndf,
            "n_layers_D": self.n_layers_D,
            "num_D": self.num_D,
            "gan_mode": self.gan_mode,
            "lambda_feat": self.lambda_feat,
            "lambda_vgg": self.lambda_vgg,
            "vgg_weights": self.vgg_weights,
            "vgg_preprocessing": self.vgg_preprocessing,
            "lr": self.lr,
            "beta1": self.beta1,
            "niter": self.niter,
            "niter_decay": self.niter_decay,
            "niter_fix_global": self.niter_fix_global,
            "pad_inputs": self.pad_inputs,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def _copy_weights(source, target):
    """Copies every weight of `source` into `target`; a `ValueError` names a shape mismatch."""
    for a, b in zip(source.weights, target.weights, strict=True):
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(
                f"load_coarse_model: {a.path} has shape {tuple(a.shape)}, {b.path} here "
                f"{tuple(b.shape)}; the coarse model's width must be ngf * 2 ** "
                "(n_local_enhancers difference)"
            )
        b.assign(a)


def _mix(x):
    """A hash of uint32 `x` (two rounds of xor-shift-multiply, modulo 2**32)."""
    for _ in range(2):
        x = ops.bitwise_xor(ops.right_shift(x, 16), x) * 0x45D9F3B
    return ops.bitwise_xor(ops.right_shift(x, 16), x)


def _clusters_checked(label, cluster_counts):
    """`label` once the served graph has checked that some of its classes have clusters."""
    import tensorflow as tf  # exporting needs TensorFlow; the model does not

    message = ("label: no stored clusters for these classes; cluster the training data first "
               "(cluster_features, which keras-i2i train runs at its end), or serve "
               "translate_clusters, translate_features or translate_encoded")
    exist = tf.reduce_any(tf.gather(cluster_counts, label) > 0)
    with tf.control_dependencies([tf.debugging.Assert(exist, [message])]):
        return tf.identity(label)


def _check_choices(counts, instance, choices):
    """Eager checks of `choose_clusters`: clusters exist, and every choice is one of its
    instance's class's clusters."""
    counts, instance = ops.convert_to_numpy(counts), ops.convert_to_numpy(instance)
    if not counts.any():
        raise ValueError(
            "No clusters for these label maps: cluster the training data's instance features "
            "first (cluster_features(dataset); `keras-i2i train` does at its end), or give "
            "the features ('features', 'cluster_index') or real images to encode ('image'; "
            "translate's style_images, the command line's --style-image)."
        )
    for instance_id, cluster in choices.items():
        available = counts[instance == instance_id]
        if available.size and not 0 <= cluster < available.min():
            raise ValueError(
                f"instance {instance_id} has {available.min()} clusters for its class, "
                f"cluster {cluster} was chosen"
            )

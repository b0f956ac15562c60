"""pix2pixHD's instance-level feature embedding network E (section 3.4).

An encoder-decoder maps the real image to a low-dimensional feature map, whose values are
then averaged over each object instance, so that every instance carries one feature vector:
the generator reads it as extra input channels, and at inference the vector of an instance
can be chosen (a k-means cluster of the training features, see `clustering`), given, or
encoded from another image.
"""

import keras

from keras_i2i.layers import ConvBlock, InstanceWiseAvgPool
from keras_i2i.models.pix2pixhd.generator import (
    DEFAULT_INITIALIZER,
    build_sequence,
    check_norm,
    output_block,
    run_sequence,
    check_size,
)


@keras.saving.register_keras_serializable(package="keras_i2i")
class FeatureEncoder(keras.Model):
    """E, the reference's `Encoder`, with its instance-wise average pooling.

    Encoder: reflection pad 3, 7 x 7 convolution to `nef`, norm, ReLU; `n_downsampling`
    3 x 3 stride-2 convolutions doubling the channels. Decoder: `n_downsampling` 3 x 3
    stride-2 transposed convolutions halving them, then reflection pad 3, 7 x 7 convolution
    to `feat_num`, tanh. The result is averaged per instance (`InstanceWiseAvgPool`).

    Inputs `[image, instance]`: image (B, H, W, 3) in [-1, 1], H and W multiples of
    `2 ** n_downsampling`; instance ids (B, H, W, 1) int. Output (B, H, W, feat_num): every
    pixel holds its instance's mean feature.

    Sub-layers: `encoder_blocks`, `decoder_blocks` (the output block last), `instance_pool`.
    """

    def __init__(
        self,
        feat_num=3,
        nef=16,
        n_downsampling=4,
        norm="instance",
        kernel_initializer=DEFAULT_INITIALIZER,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_norm(norm)
        self.feat_num = feat_num
        self.nef = nef
        self.n_downsampling = n_downsampling
        self.norm = norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.instance_pool = InstanceWiseAvgPool(dtype=self.dtype_policy, name="instance_pool")

    @property
    def size_multiple(self):
        return 2**self.n_downsampling

    def build(self, input_shape):
        image_shape, _ = input_shape
        common = dict(
            norm=self.norm, kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy
        )
        self.encoder_blocks = [
            ConvBlock(self.nef, 7, padding=3, pad_type="reflect", name="encoder_0", **common)
        ]
        for i in range(self.n_downsampling):
            self.encoder_blocks.append(
                ConvBlock(
                    self.nef * 2 ** (i + 1), 3, strides=2, padding=1, name=f"encoder_{i + 1}",
                    **common,
                )
            )
        self.decoder_blocks = [
            ConvBlock(
                self.nef * 2 ** (self.n_downsampling - i - 1),
                3,
                strides=2,
                padding=1,
                transposed=True,
                output_padding=1,
                name=f"decoder_{i}",
                **common,
            )
            for i in range(self.n_downsampling)
        ]
        self.decoder_blocks.append(
            output_block(self.feat_num, self.kernel_initializer, self.dtype_policy, "output")
        )
        build_sequence(self.encoder_blocks + self.decoder_blocks, image_shape)

    def call(self, inputs):
        image, instance = inputs
        check_size(image, self.size_multiple, "FeatureEncoder")
        features = run_sequence(self.encoder_blocks + self.decoder_blocks, image)
        return self.instance_pool([features, instance])

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.feat_num)

    def get_config(self):
        return {
            **super().get_config(),
            "feat_num": self.feat_num,
            "nef": self.nef,
            "n_downsampling": self.n_downsampling,
            "norm": self.norm,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }

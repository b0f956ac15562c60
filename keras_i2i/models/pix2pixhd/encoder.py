"""pix2pixHD's instance-level feature embedding network E (section 3.4).

An encoder-decoder maps the real image to a low-dimensional feature map, whose values are
then averaged over each object instance, so that every instance carries one feature vector:
the generator reads it as extra input channels, and at inference the vector of an instance
can be chosen (a k-means cluster of the training features, see `clustering`), given, or
encoded from another image.
"""

import keras

from keras_i2i.layers import InstanceWiseAvgPool
from keras_i2i.models.pix2pixhd.generator import DEFAULT_INITIALIZER, GlobalGenerator


@keras.saving.register_keras_serializable(package="keras_i2i")
class FeatureEncoder(keras.Model):
    """E, the reference's `Encoder`, with its instance-wise average pooling.

    The encoder-decoder is G1's architecture without residual blocks (a `GlobalGenerator`
    with `n_blocks=0`): reflection pad 3, 7 x 7 convolution to `nef`, norm, ReLU;
    `n_downsampling` 3 x 3 stride-2 convolutions doubling the channels; as many stride-2
    transposed convolutions halving them; reflection pad 3, 7 x 7 convolution to `feat_num`,
    tanh. Its output is averaged per instance (`InstanceWiseAvgPool`).

    Inputs `[image, instance]`: image (B, H, W, 3) in [-1, 1], H and W multiples of
    `2 ** n_downsampling`; instance ids (B, H, W, 1) int. Output (B, H, W, feat_num): every
    pixel holds its instance's mean feature.

    Sub-layers: `network` (the `GlobalGenerator`), `instance_pool`.
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
        self.feat_num = feat_num
        self.nef = nef
        self.n_downsampling = n_downsampling
        self.norm = norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.network = GlobalGenerator(
            nef,
            n_downsampling,
            n_blocks=0,
            output_nc=feat_num,
            norm=norm,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="network",
        )
        self.instance_pool = InstanceWiseAvgPool(dtype=self.dtype_policy, name="instance_pool")

    @property
    def size_multiple(self):
        return self.network.size_multiple

    def build(self, input_shape):
        self.network.build(input_shape[0])

    def call(self, inputs):
        image, instance = inputs
        return self.instance_pool([self.network(image), instance])

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

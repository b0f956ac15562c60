"""Layers every keras-i2i model is written in (NHWC, PyTorch reference semantics)."""

from keras_i2i.layers.blocks import (
    ConvBlock,
    ResidualBlock,
    build_sequence,
    generator_block,
    run_sequence,
)
from keras_i2i.layers.conv import Conv2D, Conv2DTranspose, ReflectionPadding2D, pad2d
from keras_i2i.layers.instance import InstanceWiseAvgPool, instance_boundary_map, semantic_map
from keras_i2i.layers.normalization import (
    AdaptiveInstanceNorm,
    BatchNorm,
    InstanceNormalization,
    LayerNorm,
    SpatiallyAdaptiveNorm,
    instance_normalize,
)
from keras_i2i.layers.pooling import AvgPool2D
from keras_i2i.layers.resize import resize_nearest
from keras_i2i.layers.warp import FlowWarp

__all__ = [
    "AdaptiveInstanceNorm",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Conv2DTranspose",
    "ConvBlock",
    "FlowWarp",
    "InstanceNormalization",
    "InstanceWiseAvgPool",
    "LayerNorm",
    "ReflectionPadding2D",
    "ResidualBlock",
    "SpatiallyAdaptiveNorm",
    "build_sequence",
    "generator_block",
    "instance_boundary_map",
    "instance_normalize",
    "pad2d",
    "resize_nearest",
    "run_sequence",
    "semantic_map",
]

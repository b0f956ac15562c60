"""Faster routes to the convolutions of `keras_i2i.layers.conv`, measured on CPUs under
TensorFlow: each gives the plain convolution's values (tested), by another computation.

Whether they win depends on the processor: on an Intel Xeon (AVX-512, AMX) they made
inference faster and training steps 6-12% slower; on an AMD EPYC training steps 5-15% faster
and inference as fast or faster (SPADE, pix2pixHD, MUNIT at 256 x 256); on GPUs under
JAX whole networks ran at 0.85-1.04x the plain convolutions' time and XLA compiled pix2pixHD's
training step 8x longer. So no fixed rule chooses them: `Conv2D` and `Conv2DTranspose` take
them where `enabled()`, i.e. where `keras-i2i tune-routes` measured them faster on this
machine, for training steps and for inference apart (`measured_choice`), or where the
environment variable `KERAS_I2I_CONV_ROUTES` (`on` / `off`) says so; else they convolve
plainly.
"""

import contextlib
import functools
import json
import os
import threading

import keras
import numpy as np
from keras import ops

from keras_i2i.layers.padding import pad2d, upsample_nearest
from keras_i2i.machine import cache_dir, processor

SWITCH = "KERAS_I2I_CONV_ROUTES"
CHOICES_FILE = "conv_routes.json"  # in `keras_i2i.machine.cache_dir()`
PHASES = ("train", "infer")

_forced = threading.local()


def enabled(training=False):
    """Whether the layers take these routes in a training step (`training`: the layer call's
    flag; vid2vid's generator, which normalizes with batch statistics at inference as the
    reference does, counts as training) or at inference: inside `forced()` its value; else
    `KERAS_I2I_CONV_ROUTES` (`on` / `off`) when set; else what `keras-i2i tune-routes`
    measured on this machine; else False."""
    forced = getattr(_forced, "value", None)
    if forced is not None:
        return forced
    switched = switch()
    if switched is not None:
        return switched
    choice = measured_choice()
    return bool(choice and choice["train" if training else "infer"])


def switch():
    """`KERAS_I2I_CONV_ROUTES`: True (`on`), False (`off`) or None (unset); another value is
    refused."""
    value = os.environ.get(SWITCH, "").lower()
    if value not in ("", "on", "off"):
        raise ValueError(f"{SWITCH} must be 'on' or 'off' (or unset: as `keras-i2i "
                         f"tune-routes` measured on this machine), got {os.environ[SWITCH]!r}")
    return None if not value else value == "on"


def describe():
    """One line: whether the layers take the routes here, and why."""
    switched = switch()
    if switched is not None:
        return f"Convolution routes {'on' if switched else 'off'} ({SWITCH})."
    choice = measured_choice()
    if choice is None:
        return ("Convolution routes: plain convolutions (not measured on this machine; "
                "`keras-i2i tune-routes` measures them).")
    return (f"Convolution routes {'on' if choice['train'] else 'off'} for training, "
            f"{'on' if choice['infer'] else 'off'} for inference (measured by `keras-i2i "
            f"tune-routes` on {choice.get('measured', 'an earlier day')}).")


@contextlib.contextmanager
def forced(on):
    """Within this context (in this thread) the layers take the routes (`on`) or not,
    whatever the switch and the measurement say: for measuring them."""
    previous = getattr(_forced, "value", None)
    _forced.value = bool(on)
    try:
        yield
    finally:
        _forced.value = previous


def machine_key():
    """What a measurement holds for: the device (the processor, or the first accelerator's
    kind), the Keras backend and its version, Keras's version."""
    backend = keras.backend.backend()
    device = processor()
    if backend == "jax":
        import jax

        first = jax.devices()[0]
        version = jax.__version__
        device = device if first.platform == "cpu" else first.device_kind
    else:
        import tensorflow as tf

        version = tf.__version__
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return f"{device} | {backend} {version} | keras {keras.__version__}"


def choices_path():
    """`$KERAS_I2I_CACHE/conv_routes.json`: every machine's measurement, by `machine_key`."""
    return cache_dir(CHOICES_FILE)


def _read_choices(path):
    """`{machine_key: choice}` from `path` ({} when it does not exist)."""
    if not path.exists():
        return {}
    try:
        choices = json.loads(path.read_text())
        if isinstance(choices, dict) and all(
                isinstance(c, dict) and all(isinstance(c.get(p), bool) for p in PHASES)
                for c in choices.values()):
            return choices
        problem = "entries without true/false 'train' and 'infer'"
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        problem = f"not JSON ({error})"
    raise ValueError(f"{path}: {problem}; expected the convolution routes measured by "
                     "`keras-i2i tune-routes` (delete the file, or run it again)")


@functools.cache
def measured_choice():
    """This machine's measurement (`{"train": bool, "infer": bool, ...}`, see `save_choice`)
    from `$KERAS_I2I_CACHE/conv_routes.json`, or None. Read once per process."""
    return _read_choices(choices_path()).get(machine_key())


def save_choice(choice):
    """Records `choice` (`{"train": bool, "infer": bool}` and its figures) as this machine's,
    keeping the other machines' in the file (replaced whole, never half written)."""
    path = choices_path()
    choices = _read_choices(path)
    choices[machine_key()] = choice
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(choices, indent=2))
    os.replace(partial, path)
    measured_choice.cache_clear()


def convolve(x, kernel, padding, pad_type, strides, dilation_rate, upsample):
    """`Conv2D`'s convolution without bias (`x` upsampled by `upsample`, padded, convolved
    "valid"), by the fastest equivalent route."""
    if upsample == 2:
        return upsampled_conv(x, kernel, padding, pad_type)
    padded = pad2d(x, padding, pad_type)
    k = kernel.shape[0]
    if strides == dilation_rate == 1:
        if kernel.shape[3] <= TAP_MATMUL_MAX_FILTERS < kernel.shape[2]:
            return tap_matmul_conv(padded, kernel)
        if _tiny_output(padded, k):
            return windows_matmul_conv(padded, kernel)
        if _small_windows(padded, k):
            return conv_with_matmul_gradients(padded, kernel)
    if strides == 2 and k % 2 == 0 and None not in padded.shape[1:]:
        return space_to_depth_conv(padded, kernel)
    return ops.conv(padded, kernel, strides=strides, padding="valid",
                    dilation_rate=dilation_rate)


def _phase_taps(kernel_size, padding):
    """How a "same" conv of a nearest x2 upsampled image reads the low-resolution image.

    Output pixel `2 i + a` (phase a) reads upsampled pixels `2 i + a + t - padding`, t < k,
    i.e. low-resolution pixels `i + (a + t - padding) // 2`. Returns `(M, pad)`: M (2, k, n)
    float32 with `M[a, t, j] = 1` where tap t of phase a reads offset `j - pad`, n = 2 pad + 1.
    """
    pad = (padding + 1) // 2
    taps = np.zeros((2, kernel_size, 2 * pad + 1), "float32")
    for a in range(2):
        for t in range(kernel_size):
            taps[a, t, (a + t - padding) // 2 + pad] = 1.0
    return taps, pad


def upsampled_conv(x, kernel, padding, pad_type="zeros"):
    """`conv(pad(upsample_nearest(x, 2), padding, pad_type), kernel)` ("valid", stride 1, kernel
    size `2 * padding + 1`) computed at the input's resolution.

    Each of the four output phases (even / odd row and column) is a convolution of the input
    with the kernel's taps summed where they read the same input pixel: a (2 ceil(p / 2) + 1)^2
    kernel instead of (2 p + 1)^2 on 4x the pixels (2.8x fewer multiply-adds for 5 x 5). Zero
    and replicate padding commute with the upsampling; reflect padding differs from it on
    the outer `padding - 1` output rows and columns, which are computed directly.

    Args:
        x: (B, H, W, C); kernel: (k, k, C, F), k = 2 padding + 1.
    Returns:
        (B, 2H, 2W, F).
    """
    k = kernel.shape[0]
    taps, pad = _phase_taps(k, padding)
    taps = ops.convert_to_tensor(taps, kernel.dtype)
    channels, filters = kernel.shape[2], kernel.shape[3]
    merged = ops.reshape(
        ops.einsum("atj,bul,tucf->jlcabf", taps, taps, kernel),
        (2 * pad + 1, 2 * pad + 1, channels, 4 * filters),
    )
    low = pad2d(x, pad, "zeros" if pad_type == "zeros" else "replicate")
    phases = ops.conv(low, merged, padding="valid")  # (B, H, W, 4F): (a, b, f) per pixel
    b, h, w = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
    y = ops.reshape(
        ops.transpose(ops.reshape(phases, (b, h, w, 2, 2, filters)), (0, 1, 3, 2, 4, 5)),
        (b, 2 * h, 2 * w, filters),
    )
    ring = padding - 1
    if pad_type != "reflect" or ring < 1:
        return y
    rows, span = padding + 1, ring + k - 1  # input rows a border strip needs; its padded rows

    def border(strip, axis, first):
        padded = pad2d(upsample_nearest(strip), padding, "reflect")
        length = ops.shape(padded)[axis]
        window = slice(0, span) if first else slice(length - span, length)
        index = (slice(None), window) if axis == 1 else (slice(None), slice(None), window)
        return ops.conv(padded[index], kernel, padding="valid")

    top, bottom = border(x[:, :rows], 1, True), border(x[:, -rows:], 1, False)
    left, right = border(x[:, :, :rows], 2, True), border(x[:, :, -rows:], 2, False)
    middle = ops.concatenate(
        [left[:, ring:-ring], y[:, ring:-ring, ring:-ring], right[:, ring:-ring]], axis=2
    )
    return ops.concatenate([top, middle, bottom], axis=1)


def _transpose_phase_taps(kernel_size, strides, padding, phase):
    """The taps of output phase `phase` of a transposed convolution, along one axis.

    Output pixel `s m + phase` (after cropping `padding`) sums `x[m + d] * w[t]` over the taps
    t with `t = (phase + padding) mod s` (mod s) and `d = (phase + padding - t) / s`. Returns
    `(lowest d, taps ordered by increasing d)` (an empty list when no tap reaches the phase).
    """
    shift = phase + padding
    taps = [t for t in range(shift % strides, kernel_size, strides)]
    return (shift - taps[-1]) // strides if taps else 0, taps[::-1]


def phase_conv_transpose(x, kernel, strides, padding, output_padding):
    """`nn.ConvTranspose2d(stride=s, padding=p, output_padding=op)` without bias, as s x s
    stride-1 convolutions, one per output phase (even / odd rows and columns for s = 2),
    interleaved: the same products as the transposed convolution, none on inserted zeros.

    Transposed convolutions of large maps are slow on CPUs (3 x 3, stride 2 at 64 x 128 x 128:
    1.6x slower under XLA than this form); their gradients are not (this form's train slower).

    Args:
        x: (B, H, W, C); kernel: (k, k, F, C) (`Conv2DTranspose.kernel`).
    Returns:
        (B, H', W', F), `H' = (H - 1) s - 2 p + k + op`.
    """
    k, filters = kernel.shape[0], kernel.shape[2]
    kernel = ops.transpose(kernel, (0, 1, 3, 2))  # (k, k, C, F)
    phases = [_transpose_phase_taps(k, strides, padding, a) for a in range(strides)]
    before = max([0] + [-low for low, taps in phases if taps])
    reach = max(low + len(taps) for low, taps in phases)
    after = max(0, reach + -(-(k + output_padding) // strides))
    padded = ops.pad(x, [[0, 0], [before, after], [before, after], [0, 0]])
    shape = ops.shape(x)
    out_h, out_w = ((n - 1) * strides - 2 * padding + k + output_padding for n in shape[1:3])
    rows, cols = -(-out_h // strides), -(-out_w // strides)  # per phase

    def phase(a, b):
        (low_a, taps_a), (low_b, taps_b) = phases[a], phases[b]
        if not (taps_a and taps_b):
            return ops.zeros((shape[0], rows, cols, filters), x.dtype)
        window = padded[:, before + low_a : before + low_a + rows + len(taps_a) - 1,
                        before + low_b : before + low_b + cols + len(taps_b) - 1]
        taps = ops.stack([ops.stack([kernel[i, j] for j in taps_b]) for i in taps_a])
        return ops.conv(window, taps, padding="valid")

    y = ops.stack(
        [ops.stack([phase(a, b) for b in range(strides)], axis=3) for a in range(strides)], axis=2
    )  # (B, rows, s, cols, s, F)
    y = ops.reshape(y, (shape[0], rows * strides, cols * strides, filters))
    return y[:, :out_h, :out_w]


# A stride-1 convolution whose im2col matrix has at most this many elements gets its gradients
# as matrix products of that matrix (`conv_with_matmul_gradients`).
MATMUL_GRADIENT_MAX_ELEMENTS = 2**23


def _patches(x, kernel_size, height, width):
    """The k x k windows of a (B, H + k - 1, W + k - 1, C) map: (B, H, W, k * k * C), each
    row ordered (kh, kw, c) like a kernel reshaped to (k * k * C, F)."""
    k = kernel_size
    return ops.concatenate(
        [x[:, i : i + height, j : j + width] for i in range(k) for j in range(k)], axis=-1
    )


def conv_with_matmul_gradients(x, kernel):
    """`ops.conv(x, kernel, padding="valid")` (stride 1) whose gradients are computed as the
    matrix products of its im2col form, with the same values.

    TensorFlow's (and XLA's) convolution gradients are slow for small maps with many
    channels: for pix2pixHD's 1024-channel residual blocks on 8 x 16 maps they take 3-4x
    the forward pass, the matrix products about 2x (a residual block trains 30% faster).
    The forward pass is the plain convolution; the gradients build the (B, H', W', k k C)
    window matrix once, so `Conv2D` uses this only when that matrix is small
    (`MATMUL_GRADIENT_MAX_ELEMENTS`).

    Args:
        x: (B, H, W, C) with static H, W; kernel: (k, k, C, F).
    Returns:
        (B, H - k + 1, W - k + 1, F).
    """
    k, _, channels, filters = kernel.shape

    @ops.custom_gradient
    def conv(x, kernel):
        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream
            height, width = dy.shape[1], dy.shape[2]
            windows = _patches(x, k, height, width)
            dkernel = ops.reshape(ops.einsum("bhwk,bhwf->kf", windows, dy), kernel.shape)
            flat = ops.reshape(kernel, (k * k * channels, filters))
            dwindows = ops.split(ops.einsum("bhwf,kf->bhwk", dy, flat), k * k, axis=-1)
            dx = sum(
                ops.pad(part, [[0, 0], [t // k, k - 1 - t // k], [t % k, k - 1 - t % k], [0, 0]])
                for t, part in enumerate(dwindows)
            )
            return dx, dkernel

        return ops.conv(x, kernel, padding="valid"), grad

    return conv(x, kernel)


def space_to_depth_conv(x, kernel):
    """`ops.conv(x, kernel, strides=2, padding="valid")` for an even k x k kernel, as a
    stride-1 convolution of the 2 x 2 blocks of `x` (space to depth) with the kernel's
    (k/2, k/2, 4 C, F) rearrangement: the same sums in another order.

    XLA's gradients of stride-2 convolutions are slow on CPUs (4x4 stride-2 PatchGAN and
    encoder layers: 1.3-2.5x slower forward and backward than this form).

    Args:
        x: (B, H, W, C) with static H, W (an odd last row or column is in no window);
        kernel: (k, k, C, F), k even.
    Returns:
        (B, (H - k) // 2 + 1, (W - k) // 2 + 1, F).
    """
    _, height, width, channels = x.shape
    k, filters = kernel.shape[0], kernel.shape[-1]
    h, w = height // 2, width // 2
    blocks = ops.reshape(x[:, : 2 * h, : 2 * w], (-1, h, 2, w, 2, channels))
    blocks = ops.reshape(ops.transpose(blocks, (0, 1, 3, 2, 4, 5)), (-1, h, w, 4 * channels))
    taps = ops.reshape(kernel, (k // 2, 2, k // 2, 2, channels, filters))
    taps = ops.reshape(ops.transpose(taps, (0, 2, 1, 3, 4, 5)),
                       (k // 2, k // 2, 4 * channels, filters))
    if _small_windows(blocks, k // 2):
        return conv_with_matmul_gradients(blocks, taps)
    return ops.conv(blocks, taps, padding="valid")


# Stride-1 convolutions to at most this many filters run as one matrix product per pixel
# (`tap_matmul_conv`).
TAP_MATMUL_MAX_FILTERS = 4


def tap_matmul_conv(x, kernel):
    """`ops.conv(x, kernel, padding="valid")` (stride 1) for kernels with few filters, as one
    matrix product of every pixel with all k x k taps, (C, k k F), then the sum of the k x k
    shifted (B, H', W', F) slices: the same sums in another order.

    Convolutions to a few filters (an RGB output layer) run far below the CPU's peak; 7 x 7
    64 -> 3 at 256 x 128 runs 3x faster this way under XLA, 1.5x without it.

    Args:
        x: (B, H, W, C); kernel: (k, k, C, F).
    Returns:
        (B, H - k + 1, W - k + 1, F).
    """
    k, _, channels, filters = kernel.shape
    height, width = ops.shape(x)[1] - k + 1, ops.shape(x)[2] - k + 1
    taps = ops.reshape(ops.transpose(kernel, (2, 0, 1, 3)), (channels, k * k * filters))
    products = ops.matmul(x, taps)  # (B, H, W, k k F), tap (i, j) at [(i k + j) F:][:F]
    return sum(
        products[:, i : i + height, j : j + width, (i * k + j) * filters :][..., :filters]
        for i in range(k)
        for j in range(k)
    )


def one_hot_conv(labels, kernel, padding=0, pad_type="zeros", bias=None):
    """`conv(pad2d(one_hot(labels), padding, pad_type), kernel) + bias` ("valid", stride 1) as a
    sum of kernel rows: each output pixel adds, for each of the k x k taps, the (F,) row of
    the label that tap reads — k^2 F additions per pixel instead of k^2 L F multiply-adds.
    The bias is added to the first tap's rows.

    Under XLA the gathers and the sum fuse into one loop (pix2pixHD's 7 x 7 convolution of 36
    channels at 256 x 128: 5x faster than the convolution); without XLA every tap is a pass
    over the output and the convolution is faster.

    Args:
        labels: int (B, H, W) in [0, L).
        kernel: (k, k, L, F).
        padding, pad_type: as `pad2d` (zero padding reads no label).
        bias: optional (F,).
    Returns:
        (B, H + 2 padding - k + 1, W + 2 padding - k + 1, F).
    """
    k, _, classes, filters = kernel.shape
    labels = ops.cast(labels, "int32")
    if pad_type == "zeros":  # padded pixels read an extra all-zero row
        kernel = ops.concatenate([kernel, ops.zeros((k, k, 1, filters), kernel.dtype)], axis=2)
        labels = ops.pad(labels, [[0, 0], [padding, padding], [padding, padding]],
                         constant_values=classes)
        classes += 1
    else:
        labels = pad2d(labels[..., None], padding, pad_type)[..., 0]
    table = ops.reshape(kernel, (k * k * classes, filters))  # row (i k + j) L + label
    if bias is not None:
        table = ops.concatenate([table[:classes] + bias, table[classes:]], axis=0)
    height, width = ops.shape(labels)[1] - k + 1, ops.shape(labels)[2] - k + 1
    return sum(
        ops.take(table, labels[:, i : i + height, j : j + width] + (i * k + j) * classes, axis=0)
        for i in range(k)
        for j in range(k)
    )


_lookup = threading.local()


def lookup_enabled():
    """Whether the current code runs inside `one_hot_lookup()`."""
    return getattr(_lookup, "enabled", False)


@contextlib.contextmanager
def one_hot_lookup(enabled=True):
    """Within this context, `Conv2D` layers with `one_hot_channels` called for inference
    convolve those channels with `one_hot_conv` (for code that XLA compiles)."""
    previous = lookup_enabled()
    _lookup.enabled = enabled
    try:
        yield
    finally:
        _lookup.enabled = previous


# Stride-1 convolutions with at most this many static output pixels run as one product of
# their window matrix (`windows_matmul_conv`).
TINY_OUTPUT_PIXELS = 32


def windows_matmul_conv(x, kernel):
    """`ops.conv(x, kernel, padding="valid")` (stride 1) as the product of the (B, H', W',
    k k C) window matrix and the kernel reshaped to (k k C, F).

    XLA runs convolutions of very small maps far below the CPU's peak (3 x 3, 512 -> 512 on
    a 2 x 4 map: 30x slower than this product); the window matrix of such a map is small.

    Args:
        x: (B, H, W, C) with static H, W; kernel: (k, k, C, F).
    Returns:
        (B, H - k + 1, W - k + 1, F).
    """
    k, _, channels, filters = kernel.shape
    windows = _patches(x, k, x.shape[1] - k + 1, x.shape[2] - k + 1)
    return ops.matmul(windows, ops.reshape(kernel, (k * k * channels, filters)))


def _tiny_output(x, kernel_size):
    """Whether a stride-1 valid convolution of `x` has a static output of few pixels."""
    h, w = x.shape[1], x.shape[2]
    if None in (h, w):
        return False
    return (h - kernel_size + 1) * (w - kernel_size + 1) <= TINY_OUTPUT_PIXELS


def _small_windows(x, kernel_size):
    """Whether the im2col matrix of a stride-1 valid convolution of `x` is static and small."""
    b, h, w, c = x.shape
    if None in (b, h, w, c):
        return False
    size = b * (h - kernel_size + 1) * (w - kernel_size + 1) * kernel_size**2 * c
    return size <= MATMUL_GRADIENT_MAX_ELEMENTS

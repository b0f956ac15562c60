"""What the examples share: held-out synthetic scenes, the scores and grids of translations
of them, timed training, and serving an exported model in a fresh process.

The examples import it as `common` (Python puts the script's folder, `examples/`, first on
the path).
"""

import pathlib
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np

from keras_i2i import visualize
from keras_i2i.data import synthetic
from keras_i2i.data.synthetic.datasets import scene_sample
from keras_i2i.metrics.diversity import mean_pairwise_distance
from keras_i2i.metrics.fidelity import label_fidelity


def parse_run_options(parser):
    """Adds `--jit` and `--mixed-precision` to an example's `parser`, parses, applies them
    (the dtype policy; Keras's seed 0) and creates `--out`; returns `(args, out folder)`."""
    parser.add_argument("--jit", action="store_true",
                        help='compile the step with XLA (by default Keras\'s "auto": XLA under '
                             'JAX and on GPUs)')
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_float16")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    return args, out


def held_out_scenes(count, size, seed=1):
    """Day images (count, H, W, 3), their label maps (count, H, W), and night renderings of
    the same scenes (count, H, W, 3) (the ideal translations), from scenes no training batch
    contains."""
    day = [scene_sample(i, seed=seed, size=size, domain="day") for i in range(count)]
    night = [scene_sample(i, seed=seed, size=size, domain="night") for i in range(count)]
    return (np.stack([s["image"] for s in day]), np.stack([s["label"][..., 0] for s in day]),
            np.stack([s["image"] for s in night]))


def content_scores(images, labels, domain="night"):
    """Pixel accuracy and mean IoU of the exact oracle segmenter of `domain`'s renderings on
    `images` (B, H, W, 3) against `labels` (B, H, W)."""
    return label_fidelity(images, labels, synthetic.NUM_CLASSES,
                          lambda x: synthetic.segment(x, domain=domain))


def translation_scores(translations, labels=None, domain="night"):
    """Scores of K translations per input, (B, K, H, W, C): their diversity (the mean
    pairwise L1 distance of each input's K, averaged over the inputs) and, with `labels`,
    the `content_scores` of the first translation of each input."""
    report = {"diversity_mean_pairwise_l1": float(np.mean(
        [mean_pairwise_distance(outputs) for outputs in translations]))}
    if labels is not None:
        report["content"] = content_scores(translations[:, 0], labels, domain)
    return report


def translation_grid(inputs, random, examples, guided, code="style"):
    """A grid of a row per input: the input (B, H, W, C), its K translations under random
    codes (`random`, (B, K, H, W, C')), an example of the target domain and the input
    translated with the example's code (`guided`)."""
    columns = {"input": inputs}
    columns.update({f"{code} {k}": random[:, k] for k in range(random.shape[1])})
    columns["example"] = examples
    columns[f"example's {code}"] = guided
    return visualize.sample_grid(columns)


def fit_timed(model, dataset, steps, steps_per_epoch, callbacks=None):
    """Fits `model` (compiled) for `steps` steps of the repeated `dataset`, with `callbacks`
    (e.g. the model's `training_callbacks()`: epochs of `steps_per_epoch` steps); returns the
    wall seconds, the steps and the last losses."""
    start = time.perf_counter()
    history = model.fit(dataset.repeat(), epochs=max(1, steps // steps_per_epoch),
                        steps_per_epoch=min(steps, steps_per_epoch), callbacks=callbacks,
                        verbose=2)
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "steps": int(model.steps_trained.numpy()),
        "final_losses": {name: round(values[-1], 4) for name, values in history.history.items()},
    }


def served_in_fresh_process(saved_model, inputs, code, directory):
    """Runs `code` in a fresh Python process that has `serve` (the signatures of the
    SavedModel `saved_model`) and `x` (`inputs`, a dict of arrays, as tf constants); `code`
    sets `outputs`, a dict of tensors, which this returns as arrays. `directory` holds the
    exchanged files meanwhile."""
    sent, received = directory / "serving_inputs.npz", directory / "served.npz"
    np.savez(sent, **inputs)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        serve = tf.saved_model.load({str(saved_model)!r}).signatures
        x = {{k: tf.constant(v) for k, v in np.load({str(sent)!r}).items()}}
    """) + textwrap.dedent(code) + textwrap.dedent(f"""
        np.savez({str(received)!r}, **{{k: v.numpy() for k, v in outputs.items()}})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    with np.load(received) as served:
        outputs = dict(served)
    sent.unlink()
    received.unlink()
    return outputs

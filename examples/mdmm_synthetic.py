"""MDMM (multi-domain DRIT++) on three synthetic domains (day, night, edge renderings of
scenes), on a CPU in a few minutes.

    python examples/mdmm_synthetic.py [--out mdmm_synthetic] [--steps 300] [--quick]

1. `MDMM.from_preset("synthetic")`: one set of networks (width 16) for the three domains of
   `keras_i2i.data.synthetic.multi_domain` (64x64, each image in a domain drawn at random),
   told the domain by one-hot codes; a step is the reference's rhythm of 3 iterations (the
   content discriminator alone twice, then everything) on 6 images.
2. Before and after training, held-out scenes rendered in each domain are translated into
   every other one with `--attributes` random attributes:
   - diversity: the mean pairwise L1 distance between one input's translations;
   - content preservation into day and night: the exact oracle segmenter of the target
     domain's renderings on one translation per input against the scene's label map (mean
     IoU); into edges: the L1 distance to the scene's own edge rendering (the ideal).
3. Writes into `--out`: `domains.png` (a row per held-out day scene: the input, its
   translation into each domain under two random attributes, and into night with the
   attribute of a night example), `metrics.json`, the `preset/` and a `saved_model/`, which a
   fresh process serves with int32 domains.
`--quick` is a smoke run: 3 steps, eagerly.
"""

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_i2i import visualize  # noqa: E402
from keras_i2i.data import synthetic  # noqa: E402
from keras_i2i.data.synthetic.datasets import scene_sample  # noqa: E402
from keras_i2i.data.synthetic.procedural import DOMAINS  # noqa: E402
from keras_i2i.models.drit import MDMM  # noqa: E402

from common import (  # noqa: E402
    content_scores,
    fit_timed,
    served_in_fresh_process,
    translation_scores,
)


def held_out(count, size=64, seed=1):
    """`{domain: images (count, H, W, 3)}` of the same held-out scenes, and their labels."""
    renderings = {domain: [scene_sample(i, seed=seed, size=size, domain=domain)
                           for i in range(count)] for domain in DOMAINS}
    images = {domain: np.stack([s["image"] for s in samples])
              for domain, samples in renderings.items()}
    return images, np.stack([s["label"][..., 0] for s in renderings["day"]])


def evaluate(model, images, labels, attributes):
    """Per `source->target` pair: diversity, and content (oracle mean IoU into day and
    night, L1 to the ideal edge rendering into edges)."""
    report = {}
    for s, source in enumerate(DOMAINS):
        for t, target in enumerate(DOMAINS):
            if s == t:
                continue
            translated = model.translate(images[source], t, num_attributes=attributes, seed=5)
            scores = translation_scores(translated)
            if target == "edges":
                scores["l1_to_ideal"] = float(np.mean(np.abs(translated[:, 0] - images[target])))
            else:
                scores["content"] = content_scores(translated[:, 0], labels, target)
            report[f"{source}->{target}"] = scores
    return report


def save_grid(model, images, out):
    inputs = images["day"][:6]
    columns = {"day input": inputs}
    for t, target in enumerate(DOMAINS):
        translated = model.translate(inputs, t, num_attributes=2, seed=3)
        columns.update({f"{target} {k}": translated[:, k] for k in range(2)})
    examples = images["night"][-6:]
    columns["night example"] = examples
    columns["guided"] = model.translate(inputs, 1, attribute_images=examples)
    visualize.save_png(out / "domains.png", visualize.sample_grid(columns))


def check_export(model, images, out):
    """Largest difference between a fresh process's served translations (given attributes
    and domains) and this process's."""
    model.export(out / "saved_model", verbose=False)
    inputs = images["day"][:4]
    domains = np.array([0, 1, 2, 1], "int32")
    attributes = np.random.default_rng(0).standard_normal((4, model.attribute_dim))
    attributes = attributes.astype("float32")
    served = served_in_fresh_process(
        out / "saved_model", {"image": inputs, "domain": domains, "attribute": attributes}, """
        outputs = {"image": serve["translate"](image=x["image"], attribute=x["attribute"],
                                               domain=x["domain"])["image"],
                   "sampled": serve["serving_default"](image=x["image"],
                                                       domain=x["domain"])["image"]}
    """, out)
    assert served["sampled"].shape == inputs.shape
    expected = model.translate(inputs, domains, attributes=attributes)
    return float(np.max(np.abs(served["image"] - expected)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="mdmm_synthetic", help="output folder")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--attributes", type=int, default=4, help="random attributes per input")
    parser.add_argument("--held-out", type=int, default=24, help="held-out scenes")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 steps, eagerly")
    args = parser.parse_args()
    if args.quick:
        args.steps = args.steps_per_epoch = 3
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    images, labels = held_out(args.held_out)
    model = MDMM.from_preset("synthetic", seed=0)
    report = {"before": evaluate(model, images, labels, args.attributes),
              "batch_size": model.default_batch_size}
    data = synthetic.multi_domain(args.steps_per_epoch * model.default_batch_size, size=64,
                                  batch_size=model.default_batch_size, seed=0)
    model.compile(run_eagerly=args.quick)
    report["training"] = fit_timed(model, data, args.steps, args.steps_per_epoch)
    report["after"] = evaluate(model, images, labels, args.attributes)
    save_grid(model, images, out)
    model.save_to_preset(out / "preset", metadata={"trained_on": "synthetic day/night/edges"})
    report["saved_model_max_abs_difference"] = check_export(model, images, out)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    (out / "metrics.json").write_text(json.dumps(report, indent=2))

    print(f"{report['training']['steps']} steps (batch {report['batch_size']}) in "
          f"{report['training']['seconds']:.0f} s")
    for pair in report["after"]:
        before, after = report["before"][pair], report["after"][pair]
        print(f"  {pair:12s} diversity {before['diversity_mean_pairwise_l1']:.3f} -> "
              f"{after['diversity_mean_pairwise_l1']:.3f}, {_content(before)} -> "
              f"{_content(after)}")
    print(f"SavedModel served in a fresh process: max |difference| "
          f"{report['saved_model_max_abs_difference']:.2e}. {report['wall_seconds']:.0f} s in "
          f"all; outputs in {args.out}/.")



def _content(scores):
    if "l1_to_ideal" in scores:
        return f"L1 to ideal {scores['l1_to_ideal']:.3f}"
    return f"mean IoU {scores['content']['mean_iou']:.3f}"


if __name__ == "__main__":
    main()

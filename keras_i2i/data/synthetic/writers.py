"""Writing the synthetic scenes to disk in the real layouts, so the real loaders read them.

Label maps are 8-bit PNGs, instance maps 16-bit PNGs (Cityscapes `class * 1000 + k`), images
8-bit RGB PNGs. Each writer returns the folder it wrote.
"""

import json
import os

import numpy as np
from PIL import Image

from keras_i2i.data.synthetic import datasets
from keras_i2i.visualize import save_png


def write_paired(root, num_samples=8, *, phase="train", seed=0, **options):
    """pix2pixHD layout: `<phase>_label/`, `<phase>_inst/`, `<phase>_img/` (`00000.png`, ...)."""
    for index in range(num_samples):
        sample = datasets.scene_sample(index, seed, **options)
        _save_ids(
            os.path.join(root, f"{phase}_label", f"{index:05d}.png"), sample["label"], np.uint8
        )
        _save_ids(
            os.path.join(root, f"{phase}_inst", f"{index:05d}.png"), sample["instance"], np.uint16
        )
        save_png(os.path.join(root, f"{phase}_img", f"{index:05d}.png"), sample["image"])
    return root


def write_unpaired(
    root, num_samples=8, *, phase="train", domains=("day", "night"), seed=0, **options
):
    """`<phase>A/`, `<phase>B/`, ... one folder per domain, each of different scenes."""
    for stream, domain in enumerate(domains):
        letter = chr(ord("A") + stream)
        for index in range(num_samples):
            image = datasets.scene_sample(index, seed, domain=domain, stream=stream, **options)[
                "image"
            ]
            save_png(os.path.join(root, f"{phase}{letter}", f"{index:05d}.png"), image)
    return root


def write_videos(root, num_sequences=2, *, phase="train", frames=8, seed=0, **options):
    """vid2vid layout: `<phase>_A/<sequence>/` label frames, `<phase>_B/` image frames,
    `<phase>_inst/` instance frames, with sequences `seq000`, ... and frames `00000.png`, ..."""
    for index in range(num_sequences):
        clip = datasets.video_sample(index, seed, frames=frames, **options)
        for time in range(frames):
            name = os.path.join(f"seq{index:03d}", f"{time:05d}.png")
            _save_ids(os.path.join(root, f"{phase}_A", name), clip["label"][time], np.uint8)
            _save_ids(os.path.join(root, f"{phase}_inst", name), clip["instance"][time], np.uint16)
            save_png(os.path.join(root, f"{phase}_B", name), clip["image"][time])
    return root


def write_boxes(folder, num_samples=8, *, layout="json", seed=0, **options):
    """Images `00000.png`, ... in `folder` with `boxes.json` or (layout "init") `boxes.txt`
    (see `keras_i2i.data.boxes` for both formats)."""
    if layout not in ("json", "init"):
        raise ValueError(f"layout must be json or init, got {layout!r}")
    listing, shapes = {}, {}
    for index in range(num_samples):
        sample = datasets.boxes_sample(index, seed, **options)
        name = f"{index:05d}.png"
        save_png(os.path.join(folder, name), sample["image"])
        kept = sample["classes"] >= 0
        rows = zip(sample["classes"][kept], sample["boxes"][kept])
        listing[name] = [[int(label), *map(float, box)] for label, box in rows]
        shapes[name] = sample["image"].shape
    if layout == "json":
        with open(os.path.join(folder, "boxes.json"), "w") as file:
            json.dump(listing, file, indent=1)
    else:
        with open(os.path.join(folder, "boxes.txt"), "w") as file:
            for index, (name, rows) in enumerate(listing.items()):
                lines = [f"# {index}", name, " ".join(map(str, shapes[name])), "0", str(len(rows))]
                lines += [" ".join(f"{value:g}" for value in row) for row in rows]
                file.write("\n".join(lines) + "\n")
    return folder


def write_unpaired_boxes(root, num_samples=8, *, phase="train", domains=("day", "night"),
                         seed=0, layout="json", **options):
    """INIT layout: `<phase>A/`, `<phase>B/`, ... one folder per domain, each of different
    scenes with its annotation file (`write_boxes`)."""
    for stream, domain in enumerate(domains):
        folder = os.path.join(root, f"{phase}{chr(ord('A') + stream)}")
        write_boxes(folder, num_samples, layout=layout, seed=seed, domain=domain, stream=stream,
                    **options)
    return root


def _save_ids(path, ids, dtype):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(ids)[..., 0].astype(dtype)).save(path)

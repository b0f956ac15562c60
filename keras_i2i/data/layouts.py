"""Listing and pairing the files of the reference dataset layouts (eager, before any decoding).

Partner files (label map, image, instance map of one sample) pair by their path relative to
their folder, without extension and without the Cityscapes suffixes (`_leftImg8bit`,
`_gtFine_labelIds`, ...). A file without its partner is an error naming the file and where
its partner was expected (or, with `on_error="skip"`, a skipped sample).
"""

import os

from keras_i2i.data.io import IMAGE_SUFFIXES, MEMBER_NAMES, list_files

_CITYSCAPES_SUFFIXES = (
    "_leftImg8bit",
    "_gtFine_labelIds",
    "_gtFine_instanceIds",
    "_gtCoarse_labelIds",
    "_gtCoarse_instanceIds",
)


def pairing_key(path, folder):
    """What partner files share: the path below `folder`, without extension and dataset suffix."""
    stem = os.path.splitext(os.path.relpath(path, folder))[0]
    for suffix in _CITYSCAPES_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def pair_files(members, policy):
    """Pairs files across members by `pairing_key`.

    Args:
        members: dict member -> (folder, paths in it).
        policy: the `pipeline.ErrorPolicy` (missing partners raise or are skipped).

    Returns:
        dict member -> list of paths, aligned.
    """
    keyed = {member: _by_key(folder, paths) for member, (folder, paths) in members.items()}
    rows = []
    for key in sorted(set().union(*keyed.values())):
        present = {member: files[key] for member, files in keyed.items() if key in files}
        missing = [member for member in members if member not in present]
        if missing:
            member, path = next(iter(present.items()))
            folder = members[missing[0]][0]
            policy.bad(
                ValueError(
                    f"{path}: this {MEMBER_NAMES.get(member, member)} has no "
                    f"{MEMBER_NAMES.get(missing[0], missing[0])} (expected a file named like "
                    f"{os.path.basename(key)}.* in {folder})"
                )
            )
            continue
        rows.append(present)
    if not rows:
        folder, _ = next(iter(members.values()))
        names = ", ".join(MEMBER_NAMES.get(member, member) + "s" for member in members)
        raise ValueError(f"no samples found in {folder} ({names} paired by file name)")
    return {member: [row[member] for row in rows] for member in members}


def _by_key(folder, paths):
    files = {}
    for path in paths:
        key = pairing_key(path, folder)
        if key in files:
            raise ValueError(f"{path}: same name as {files[key]}; expected one file per sample")
        files[key] = path
    return files


def paired_label_members(root, phase, layout, instance):
    """dict member -> (folder, paths) for the label-map layouts; no "image" when it has none.

    Layouts: `pix2pixhd` (`<phase>_label/`, `<phase>_img/`, `<phase>_inst/`, also SPADE's
    COCO-Stuff), `cityscapes` (the official `gtFine/<phase>/<city>/*_labelIds.png`,
    `*_instanceIds.png`, `leftImg8bit/<phase>/<city>/*_leftImg8bit.png`), `ade20k`
    (`ADEChallengeData2016`: `images/training/*.jpg`, `annotations/training/*.png`; phase "val"
    reads `validation`), `folders` (`labels/`, `images/`, `instances/`, any names); `auto`
    picks by which folders exist.
    """
    layout = _detect(root, phase, layout)
    recursive = layout == "cityscapes"
    if layout == "cityscapes":
        gt, photos = os.path.join(root, "gtFine", phase), os.path.join(root, "leftImg8bit", phase)
        members = {
            "label": (gt, ("_labelIds.png",)),
            "image": (photos, ("_leftImg8bit.png",)),
            "instance": (gt, ("_instanceIds.png",)),
        }
    else:
        split = {"train": "training", "val": "validation"}.get(phase, phase)
        folders = {
            "pix2pixhd": {
                "label": f"{phase}_label",
                "image": f"{phase}_img",
                "instance": f"{phase}_inst",
            },
            "ade20k": {"label": f"annotations/{split}", "image": f"images/{split}"},
            "folders": {"label": "labels", "image": "images", "instance": "instances"},
        }[layout]
        members = {
            member: (os.path.join(root, folder), IMAGE_SUFFIXES)
            for member, folder in folders.items()
        }
    if instance and "instance" not in members:
        raise ValueError(f"the {layout} layout has no instance maps; pass instance=False "
                         "(command line: --no-instance)")
    if not instance:
        members.pop("instance", None)
    if not os.path.isdir(members["image"][0]):
        del members["image"]
    return {
        member: (folder, list_files(folder, suffixes, recursive))
        for member, (folder, suffixes) in members.items()
    }


def paired_rgb_members(root, phase, layout):
    """dict member -> (folder, paths) for RGB input: `pix2pixhd` (`<phase>_A/`, `<phase>_B/`)
    or `aligned` (pix2pix side-by-side AB images in `<phase>/`, member "ab")."""
    if layout == "auto":
        layout = "pix2pixhd" if os.path.isdir(os.path.join(root, f"{phase}_A")) else "aligned"
    if layout == "aligned":
        folder = os.path.join(root, phase)
        return {"ab": (folder, list_files(folder))}
    if layout != "pix2pixhd":
        raise ValueError(f"unknown RGB layout {layout!r}; expected auto, pix2pixhd or aligned")
    folders = {"input": os.path.join(root, f"{phase}_A"), "image": os.path.join(root, f"{phase}_B")}
    return {member: (folder, list_files(folder)) for member, folder in folders.items()}


def _detect(root, phase, layout):
    if layout != "auto":
        if layout not in ("pix2pixhd", "cityscapes", "ade20k", "folders"):
            raise ValueError(
                f"unknown layout {layout!r}; expected auto, pix2pixhd, cityscapes, ade20k, folders"
            )
        return layout
    candidates = {
        "cityscapes": os.path.join(root, "gtFine"),
        "pix2pixhd": os.path.join(root, f"{phase}_label"),
        "ade20k": os.path.join(root, "annotations"),
        "folders": os.path.join(root, "labels"),
    }
    for name, folder in candidates.items():
        if os.path.isdir(folder):
            return name
    raise ValueError(
        f"{root}: no known label layout (expected gtFine/, {phase}_label/, annotations/ or labels/)"
    )

"""Reference settings per dataset name (the SPADE / pix2pixHD / MUNIT dataset options).

`dataset_settings("cityscapes")` gives what the reference implementations set for that
dataset: label count, dontcare class, instance maps and the default preprocessing. Model
presets refer to these names; every field can be overridden per call.
"""

import dataclasses

from keras_i2i.data.synthetic.procedural import NUM_CLASSES as SYNTHETIC_CLASSES
from keras_i2i.data.transforms import Preprocess


@dataclasses.dataclass(frozen=True)
class DatasetSettings:
    """Label conventions and default preprocessing of one dataset.

    Args:
        label_nc: number of label ids; 0 means an RGB input image instead of a label map.
        contain_dontcare_label: whether unlabeled pixels form one extra class `label_nc`
            (so the one-hot label map has `label_nc + 1` channels).
        unlabeled_id: raw id of unlabeled pixels in the files (COCO-Stuff 255, ADE20K 0),
            mapped to `label_nc`; only allowed with `contain_dontcare_label`.
        first_id: raw id of class 0 (ADE20K 1: SPADE subtracts 1 from every id).
        instance: whether instance maps are loaded.
        preprocess, load_size, crop_size, aspect_ratio: the reference `--preprocess_mode`,
            `--load_size`, `--crop_size`, `--aspect_ratio` (see `transforms.Preprocess`).
    """

    label_nc: int
    contain_dontcare_label: bool = False
    unlabeled_id: int | None = None
    first_id: int = 0
    instance: bool = False
    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    aspect_ratio: float = 1.0

    def __post_init__(self):
        if self.unlabeled_id is not None and not self.contain_dontcare_label:
            raise ValueError("unlabeled_id needs contain_dontcare_label=True")

    @property
    def num_classes(self):
        """Channels of the one-hot label map: `label_nc` plus the dontcare class if any."""
        return self.label_nc + int(self.contain_dontcare_label)

    def valid_ids(self, raw):
        """Elementwise: is a raw id from a file declared? Works on numpy arrays and tensors."""
        valid = (raw >= self.first_id) & (raw < self.first_id + self.label_nc)
        if self.unlabeled_id is not None:
            valid = valid | (raw == self.unlabeled_id)
        return valid

    def preprocessing(self, training, flip=None, size_multiple=32):
        """The `Preprocess` of this dataset: random crop and flip when training (unless `flip`
        says otherwise); evaluation loads at crop size, as SPADE's test options do."""
        resizes = self.preprocess == "resize_and_crop"
        return Preprocess(
            mode=self.preprocess,
            load_size=self.load_size if training or not resizes else self.crop_size,
            crop_size=self.crop_size,
            aspect_ratio=self.aspect_ratio,
            size_multiple=size_multiple,
            flip=training if flip is None else flip,
            random=training,
        )


DATASETS = {
    # SPADE cityscapes_dataset.py: 35 ids (0..33 used), 512x256 ('fixed', aspect 2).
    "cityscapes": DatasetSettings(
        label_nc=35,
        instance=True,
        preprocess="fixed",
        load_size=512,
        crop_size=512,
        aspect_ratio=2.0,
    ),
    # SPADE coco_dataset.py: 182 ids, 255 = unlabeled -> dontcare class 182.
    "coco_stuff": DatasetSettings(
        label_nc=182, contain_dontcare_label=True, unlabeled_id=255, instance=True
    ),
    # SPADE ade20k_dataset.py: ids 1..150 become 0..149, 0 = unlabeled -> dontcare class 150.
    "ade20k": DatasetSettings(
        label_nc=150, contain_dontcare_label=True, unlabeled_id=0, first_id=1
    ),
    # pix2pix side-by-side AB datasets (RGB input), 286 -> random 256 crop.
    "facades": DatasetSettings(label_nc=0),
    # SPADE facades_dataset.py: the CMP Facades label maps (13 ids), 286 -> random 256 crop.
    "facades_labels": DatasetSettings(label_nc=13),
    "edges2shoes": DatasetSettings(label_nc=0),
    # MUNIT edges2handbags config: shorter side 256, random 256x256 crop.
    "edges2handbags": DatasetSettings(
        label_nc=0, preprocess="scale_shortside_and_crop", load_size=256, crop_size=256
    ),
    # DRIT / MDMM (dataset.py): resized to 256x256, random 216x216 crops, flips.
    **{name: DatasetSettings(label_nc=0, load_size=256, crop_size=216)
       for name in ("cat2dog", "portrait", "yosemite", "mdmm")},
    # INIT's street scenes (models/init/presets.py): shorter side 360, random 352x352 crops.
    "init": DatasetSettings(
        label_nc=0, preprocess="scale_shortside_and_crop", load_size=360, crop_size=352
    ),
    # The synthetic scenes written to disk (`synthetic.write_paired`), 64x64.
    "synthetic": DatasetSettings(
        label_nc=SYNTHETIC_CLASSES, instance=True, preprocess="fixed", load_size=64, crop_size=64
    ),
}


def dataset_settings(name=None, **overrides):
    """Settings of a named dataset with field overrides; `name=None` starts from no defaults.

    >>> dataset_settings("cityscapes").num_classes
    35
    """
    if name is None:
        if "label_nc" not in overrides:
            raise ValueError("without a dataset name, pass label_nc (0 for RGB input)")
        return DatasetSettings(**overrides)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return dataclasses.replace(DATASETS[name], **overrides)

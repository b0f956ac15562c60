"""Data: `tf.data` loaders for the reference dataset layouts, and synthetic datasets.

Every loader returns a `tf.data.Dataset` of dicts, decoded in parallel and prefetched, batched
(`batch_size=None` for single samples), with one random crop/flip per sample applied to all
its members (label and instance maps resized with nearest neighbour, images bicubic).

Conventions (NHWC; B = batch, T = frames, N = boxes):

- Images are float32 in [-1, 1], RGB.
- Paired labels (`paired_labels`): `{"label": int32 (B,H,W,1), "instance": int32 (B,H,W,1)
  (datasets with instance maps), "image": float32 (B,H,W,3)}`. Label ids are those of the
  reference (SPADE) after its remapping, 0..label_nc-1, plus `label_nc` for unlabeled pixels
  when the dataset has a dontcare class; one-hot width = `dataset_settings(name).num_classes`:
    - cityscapes: ids 0..33 as in `*_labelIds.png`, label_nc 35, no dontcare (35 channels).
    - coco_stuff: ids 0..181, file id 255 -> 182 (label_nc 182 + dontcare: 183 channels).
    - ade20k: file ids 1..150 -> 0..149, file id 0 (unlabeled) -> 150 (label_nc 150 +
      dontcare: 151 channels), as SPADE's `ade20k_dataset.py` subtracts 1 and maps -1 to
      label_nc.
  Instance maps keep the file's ids (Cityscapes 16-bit `class * 1000 + k`, the class id for
  stuff; COCO-Stuff 8-bit): only equality between neighbours matters (edges, instance pooling).
- RGB input (`paired_images`, label_nc = 0): `{"input": float32 (B,H,W,3), "image": ...}`.
- Two unpaired domains (`unpaired`): `{"image_a", "image_b"}`, each domain shuffled and
  augmented independently (MUNIT style); N domains (`multi_domain`): `{"image": (B,H,W,3),
  "domain": int32 (B,)}`.
- Video clips (`video_clips`): `{"label": int32 (B,T,H,W,1), "instance"?, "image": (B,T,H,W,3)}`
  ("input" instead of "label" for RGB input). The synthetic videos add `"flow": float32
  (B,T-1,H,W,2)`, the backward flow of frame t against frame t-1 in pixels: (dx, dy) such that
  frame_t(x, y) = frame_{t-1}(x + dx, y + dy) (exact for visible, non-occluded points), i.e.
  what `FlowWarp` needs to warp frame t-1 onto frame t. For real clips, `with_flow(dataset,
  cache=...)` adds "flow" in the same convention, computed from the "image" frames with
  OpenCV's DIS (`pip install keras-i2i[flow]`), the stand-in for vid2vid's FlowNet2; a dataset
  whose elements already carry "flow" (synthetic, or flows a user supplies) passes unchanged.
  It is a transform rather than a `video_clips` option so that it applies to any clip
  dataset, after batching or not; see `keras_i2i.data.flow` for the cache.
- Boxes (`boxes`, `unpaired_boxes`): `{"image", "boxes": float32 (B,N,4) x1, y1, x2, y2 in
  pixels of the output image (pixel i spans [i, i+1)), "classes": int32 (B,N)}`, padded to N
  rows with class -1 (and zero boxes); boxes the crop removes become padding too.

Settings per dataset name (`DATASETS`, `dataset_settings`): label_nc, contain_dontcare_label,
instance maps, preprocess mode, load/crop size, aspect ratio; model presets refer to these
names, every field can be overridden per call (`paired_labels(root, "cityscapes", load_size=1024,
preprocess="scale_width")`). Preprocess modes are SPADE's (`transforms.Preprocess`):
resize_and_crop, crop, scale_width(_and_crop), scale_shortside(_and_crop), fixed, none
(sizes rounded to a multiple of `size_multiple`, what the network's downsampling needs).

Bad input is never silently used. Listing errors (an image without its label map or the
reverse, a list entry or annotated image that does not exist) raise `ValueError` naming the
file. Errors found while decoding (a corrupt or unreadable file, a label id at or above
label_nc, an instance map or image of another size than its label map) stop iteration with a
`tf.errors.InvalidArgumentError` whose message carries `ValueError: <file>: <what was
expected>`, e.g. `ValueError: /d/x_gtFine_labelIds.png: label id 40 >= label_nc 35`. With
`on_error="skip"` such samples are left out, each logged once as a warning, and counted in
`dataset.skipped` (a `SkippedSamples`: `.count`, `.reasons`).

Synthetic data (`synthetic`): scenes, their unpaired domains (day / night / edges), moving-shape
videos with exact flow, scenes with boxes, an exact oracle segmenter for label fidelity, and
writers for all the layouts above.
"""


from keras_i2i.data import synthetic

try:
    import tensorflow  # noqa: F401
except ImportError:  # the loaders need TensorFlow; models and synthetic scenes do not
    pass
else:
    from keras_i2i.data.boxes import boxes, unpaired_boxes
    from keras_i2i.data.flow import dis_flow, with_flow
    from keras_i2i.data.paired import paired_images, paired_labels
    from keras_i2i.data.pipeline import SkippedSamples
    from keras_i2i.data.registry import DATASETS, DatasetSettings, dataset_settings
    from keras_i2i.data.transforms import Preprocess
    from keras_i2i.data.unpaired import multi_domain, unpaired
    from keras_i2i.data.video import video_clips

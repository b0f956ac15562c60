"""Video datasets in the vid2vid layout: per-sequence folders of frames, sorted by name.

    <root>/<phase>_A/<sequence>/*.png     label frames (RGB input frames when label_nc = 0)
    <root>/<phase>_B/<sequence>/*.png     image frames
    <root>/<phase>_inst/<sequence>/*.png  instance frames (optional)

A sequence of RGB frames may instead be one video file `<phase>_B/<sequence>.mp4` (or .avi,
.mov, .mkv, .webm), read with PyAV (`pip install keras-i2i[video]`). Frames of one sequence
pair by position; each sequence gives one clip of `frames` consecutive frames per epoch, at a
random start when training (the first frames otherwise). `flow.with_flow` adds the reference
optical flow of the image frames.
"""

import functools
import os

import numpy as np
import tensorflow as tf

from keras_i2i.data import io, layouts, pipeline
from keras_i2i.data.registry import dataset_settings


def video_clips(
    root,
    dataset=None,
    phase="train",
    *,
    frames=8,
    at_most=False,
    batch_size=1,
    training=None,
    flip=None,
    size_multiple=32,
    seed=None,
    on_error="raise",
    **settings,
):
    """Clips of consecutive frames, one per sequence and epoch, with one crop/flip shared by
    all frames.

    Args:
        frames: frames per clip; None for whole sequences (batching them needs equal lengths).
        at_most: `frames` is an upper bound: the clips have `min(frames, the shortest
            sequence's length)` frames (as the reference shortens its clips to the sequences
            it has) instead of sequences shorter than `frames` being errors; with `frames`
            None, as many frames as the shortest sequence has.
        Others: as `paired.paired_labels` (settings such as `label_nc`, `instance`).

    Returns:
        `tf.data.Dataset` of `{"label": int32 (B,T,H,W,1), "instance": int32 (B,T,H,W,1) if
        instances, "image": float32 (B,T,H,W,3) in [-1, 1]}`; with `label_nc=0`, "input"
        float32 (B,T,H,W,3) replaces "label". A split without `<phase>_B` gives no "image".
    """
    if frames is not None and frames < 1:
        raise ValueError(f"frames={frames}: expected at least 1 frame per clip, or None")
    settings = dataset_settings(dataset, **settings)
    source = "label" if settings.label_nc else "input"
    training, preprocess, policy = pipeline.prepare(
        settings, phase, training, flip, size_multiple, on_error
    )
    members = sequence_members(root, phase, source, settings.instance)
    files = sequence_files(members, None if at_most else frames, policy)
    if at_most:
        shortest = int(files["length"].min())
        frames = shortest if frames is None else min(frames, shortest)
    samples = pipeline.build(
        files,
        functools.partial(io.load_sample, settings=settings, reference=source),
        functools.partial(io.check_sample, settings=settings, reference=source),
        preprocess,
        policy,
        shuffle=training,
        seed=seed,
        choose=functools.partial(_choose_clip, frames=frames, random=training),
    )
    if frames is not None:  # a static clip length: a model's step unrolls over the frames
        samples = samples.map(functools.partial(_clip_length, frames=frames))
    return pipeline.finish(samples, policy, batch_size, drop_remainder=training)


def sequence_members(root, phase, source, instance):
    """dict member -> (folder, sequence entries: frame folders or video files)."""
    folders = {source: f"{phase}_A", "image": f"{phase}_B"}
    if instance:
        folders["instance"] = f"{phase}_inst"
    members = {}
    for member, name in folders.items():
        folder = os.path.join(root, name)
        if member == "image" and not os.path.isdir(folder):
            continue
        if not os.path.isdir(folder):
            raise ValueError(f"{folder}: expected a folder of sequences (vid2vid layout)")
        entries = [os.path.join(folder, entry) for entry in sorted(os.listdir(folder))]
        sequences = [
            e for e in entries if os.path.isdir(e) or e.lower().endswith(io.VIDEO_SUFFIXES)
        ]
        members[member] = (folder, sequences)
    return members


def sequence_files(members, frames, policy):
    """Frame paths per member as (sequences, longest) arrays padded with "", `<member>_frame`
    frame numbers for video files (-1 for frame files), and each sequence's `length`."""
    paired = layouts.pair_files(members, policy)
    rows = []
    for index in range(len(next(iter(paired.values())))):
        sequence = {member: _frames(paths[index], member) for member, paths in paired.items()}
        lengths = {member: len(frame_paths) for member, (frame_paths, _) in sequence.items()}
        name = next(iter(paired.values()))[index]
        if len(set(lengths.values())) > 1:
            counts = ", ".join(f"{paired[member][index]}: {n}" for member, n in lengths.items())
            policy.bad(
                ValueError(f"{name}: the members of this sequence differ in frame count ({counts})")
            )
        elif frames is not None and min(lengths.values()) < frames:
            policy.bad(
                ValueError(f"{name}: {min(lengths.values())} frames, expected at least {frames}")
            )
        else:
            rows.append(sequence)
    if not rows:
        raise ValueError("no usable sequences found")
    longest = max(len(paths) for row in rows for paths, _ in row.values())
    files = {"length": np.array([len(next(iter(row.values()))[0]) for row in rows], np.int32)}
    for member in paired:
        files[member] = np.array([_pad(row[member][0], longest, "") for row in rows])
        files[member + "_frame"] = np.array(
            [_pad(row[member][1], longest, -1) for row in rows], np.int32
        )
    return files


def _frames(entry, member):
    """(frame paths, frame numbers) of a sequence folder or video file."""
    if os.path.isdir(entry):
        paths = io.list_files(entry)
        return paths, [-1] * len(paths)
    if member in io.LABEL_MEMBERS:
        raise ValueError(f"{entry}: expected a folder of PNG frames ({member} ids), not a video")
    count = io.count_video_frames(entry)
    return [entry] * count, list(range(count))


def _pad(values, length, fill):
    return list(values) + [fill] * (length - len(values))


def _clip_length(sample, frames):
    return {key: tf.ensure_shape(value, [frames, *value.shape[1:]])
            for key, value in sample.items()}


def _choose_clip(row, seed, frames, random):
    length = row["length"]
    count = length if frames is None else frames
    if random:
        start = tf.random.stateless_uniform([], seed, maxval=length - count + 1, dtype=tf.int32)
    else:
        start = 0
    return {key: value[start : start + count] for key, value in row.items() if key != "length"}

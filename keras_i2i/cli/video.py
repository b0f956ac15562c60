"""`keras-i2i translate` for video models (vid2vid): folders of label frames in, a folder of
generated frames and an mp4 per sequence out.

An input is a sequence, a folder of frames (sorted by name), or a folder of sequence folders
(the vid2vid layout's `test_A/`). A further input (`--with instance=FOLDER`) and the first
frames (`--first-frames FOLDER`) are the same sequence's frames, or a folder with a subfolder
of the sequence's name. Frames are read and generated one at a time (`Vid2Vid.generate`).
"""

import argparse
import pathlib

import numpy as np
import tensorflow as tf

from keras_i2i import visualize
from keras_i2i.cli import commands
from keras_i2i.data import io


def translate(args, model, read_labels):
    """Generates a video per input sequence; `read_labels(path)` reads a label frame (ids
    mapped as the model's dataset does)."""
    companions = {}
    for option in args.with_:
        name, _, folder = option.partition("=")
        if name != "instance" or not pathlib.Path(folder).is_dir():
            raise ValueError(f"--with {option}: a video model's further input is "
                             "instance=FOLDER, an existing folder.")
        companions[name] = folder
    _check_options(model, args, companions)
    first_frame_model = _first_frame_model(args.first_frame_model)
    out = pathlib.Path(args.out)
    for sequence in _sequences(args.inputs):
        frames = io.list_files(str(sequence))
        options = {"first_frame_model": first_frame_model}
        reading = _Reading()
        if "instance" in companions:
            options["instance_video"] = reading.each(
                _companion_frames(companions["instance"], sequence, len(frames), "--with"),
                io.read_label_map, labels=True, track=False)
        if args.first_frames is not None:
            starts = _companion_frames(args.first_frames, sequence, None, "--first-frames")
            options["first_frames"] = [io.read_image(p).numpy()
                                       for p in starts[: model.n_frames_G - 1]]
        source = reading.each(frames, read_labels if model.label_nc else _read_rgb,
                              labels=bool(model.label_nc))
        try:
            # with no_first_img the video starts at label frame n_frames_G - 1
            names = frames[model.n_frames_G - 1:] if model.no_first_img else frames
            video = _saved(model.generate(source, **options), out / sequence.name, names)
            written = _write(video, out, sequence.name, args.fps)
        except ValueError as error:
            if pathlib.Path(str(error).split(": ")[0]).is_file():  # names its file already
                raise
            raise ValueError(f"{reading.last or sequence}: {error}") from error
        print(f"{sequence}: {written}")


def _check_options(model, args, companions):
    """The command line's inputs the model needs, in its terms."""
    starts = sum(value is not None for value in (args.first_frames, args.first_frame_model))
    if model.no_first_img and starts:
        raise ValueError("--first-frames / --first-frame-model: this model makes its first "
                         "frames itself (no_first_img).")
    if not model.no_first_img and starts != 1:
        raise ValueError(f"--first-frames or --first-frame-model (one of them): each video "
                         f"starts from n_frames_G - 1 = {model.n_frames_G - 1} frames, real "
                         "ones or a single-image model's.")
    if model.use_instance and "instance" not in companions:
        raise ValueError("--with instance=FOLDER: the model reads instance maps "
                         "(use_instance).")


class _Reading:
    """Reads frames lazily, each unreadable one an error naming it, and remembers the last
    label frame read (an error of the model's about a frame names its file)."""

    last = None

    def each(self, paths, read, labels, track=True):
        """The frames of `paths` as numpy arrays, read by `read` (`labels`: id maps)."""
        for path in paths:
            if track:
                self.last = path
            try:
                frame = read(path)
            except tf.errors.OpError:
                # Pillow's reading says what is wrong with the file, naming it
                io.check_label_map(path, "label frame") if labels else io.check_image(path)
                raise
            yield np.asarray(frame)


def _read_rgb(path):
    return io.read_image(path).numpy()


def _saved(frames, folder, names):
    """Saves each generated frame as `folder/<label frame's name>.png` as it is made."""
    for frame, name in zip(frames, names):
        visualize.save_png(folder / f"{pathlib.Path(name).stem}.png", frame)
        yield frame


def _write(video, out, name, fps):
    """Drains the generated frames into `out/name.mp4` (PNG frames only without PyAV)."""
    try:
        path = visualize.write_video(out / f"{name}.mp4", video, fps=fps)
    except ImportError as error:  # PyAV missing: raised before a frame is taken
        if error.name != "av":
            raise
        for _ in video:
            pass
        return f"frames in {out / name} (no mp4: pip install keras-i2i[video])"
    return f"{path} and its frames in {out / name}"


def _sequences(inputs):
    """The sequence folders the inputs name: each input a folder of frames, or of sequence
    folders."""
    sequences = []
    for item in inputs:
        path = pathlib.Path(item)
        if not path.is_dir():
            raise ValueError(f"{path}: expected a folder of label frames (a sequence) or of "
                             "sequence folders.")
        if io.list_files(str(path)):
            sequences.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_dir() and io.list_files(str(p)))
        if not found:
            raise ValueError(f"{path}: no frames, nor sequence folders of frames.")
        sequences += found
    return sequences


def _companion_frames(folder, sequence, count, flag):
    """The frames of `sequence` in `folder`: its subfolder of the sequence's name, else the
    folder itself; `count` of them when given."""
    folder = pathlib.Path(folder)
    if (folder / sequence.name).is_dir():
        folder = folder / sequence.name
    paths = io.list_files(str(folder))
    if not paths or (count is not None and len(paths) != count):
        found = f"{len(paths)} frames" if paths else "no frames"
        expected = f"{count}, as" if count is not None else "those of"
        raise ValueError(f"{flag} {folder}: {found}, expected {expected} {sequence}.")
    return paths


def _first_frame_model(option):
    """The single-image model `--first-frame-model MODEL=PRESET` names, or None."""
    if option is None:
        return None
    name, separator, preset = option.partition("=")
    if not separator:
        raise ValueError(f"--first-frame-model {option}: expected MODEL=PRESET, e.g. "
                         "pix2pixhd=runs/label2city.")
    model, _ = commands.load_model(argparse.Namespace(model=name, preset=preset,
                                                      checkpoint=None))
    return model

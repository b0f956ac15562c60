"""Video clips from per-sequence frame folders (vid2vid layout) and from video files (PyAV)."""

import re
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_i2i.data import synthetic, video_clips
from keras_i2i.data.synthetic.datasets import video_sample
from keras_i2i.visualize import save_frame_strip, to_uint8, write_video
from tests.data.conftest import batches, save_image


def expect_error(root, message):
    """Loading every clip of `root` stops with the ValueError `message` (see keras_i2i.data)."""
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        batches(video_clips(root, "synthetic", frames=6, batch_size=None, training=False))


@pytest.fixture
def sequences(tmp_path):
    synthetic.write_videos(tmp_path, 2, frames=6, size=16, seed=2)
    return tmp_path


def test_clips_are_consecutive_frames_of_one_sequence(sequences):
    dataset = video_clips(
        sequences, "synthetic", frames=3, batch_size=None, crop_size=16, load_size=16, seed=0
    )
    originals = [video_sample(index, seed=2, size=16, frames=6)["label"] for index in range(2)]
    for clip in batches(dataset) * 2:
        assert clip["label"].shape == (3, 16, 16, 1) and clip["image"].shape == (3, 16, 16, 3)
        windows = [
            np.array_equal(clip["label"], view)
            for original in originals
            for start in range(4)
            for view in (original[start : start + 3], original[start : start + 3, :, ::-1])
        ]
        assert any(windows)
        things = clip["instance"] >= 1000
        np.testing.assert_array_equal(clip["instance"][things] // 1000, clip["label"][things])


def test_evaluation_reads_whole_sequences_from_the_start(sequences):
    clip = batches(
        video_clips(sequences, "synthetic", frames=None, training=False, batch_size=None)
    )[0]
    expected = video_sample(0, seed=2, size=16, frames=6)
    assert clip["label"].shape == (6, 64, 64, 1)  # the synthetic settings resize to 64x64
    np.testing.assert_array_equal(clip["label"][:, ::4, ::4], expected["label"])


def test_clips_at_most_as_long_as_the_shortest_sequence(sequences):
    synthetic.write_videos(sequences, 1, frames=4, size=16, seed=2, phase="val")
    synthetic.write_videos(sequences, 3, frames=3, size=16, seed=2, phase="val")
    for frames, expected in ((None, 3), (2, 2), (8, 3)):
        clips = batches(video_clips(sequences, "synthetic", phase="val", frames=frames,
                                    at_most=True, training=False, batch_size=3))
        assert clips[0]["label"].shape[:2] == (3, expected)


def test_rgb_input_sequences(sequences):
    (sequences / "train_inst").rename(sequences / "unused")
    batch = next(
        iter(
            video_clips(
                sequences, label_nc=0, frames=2, batch_size=2, preprocess="none", size_multiple=16
            )
        )
    )
    assert sorted(batch) == ["image", "input"] and batch["input"].shape == (2, 2, 16, 16, 3)


def test_video_files_need_the_video_extra(sequences, monkeypatch):
    (sequences / "train_B" / "seq000").rename(sequences / "seq000_frames")
    (sequences / "train_B" / "seq000.mp4").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match=r"pip install keras-i2i\[video\]"):
        video_clips(sequences, "synthetic", frames=2)


def test_label_frames_cannot_come_from_a_video_file(sequences):
    (sequences / "train_A" / "seq000").rename(sequences / "seq000_labels")
    (sequences / "train_A" / "seq000.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match="seq000.mp4: expected a folder of PNG frames"):
        video_clips(sequences, "synthetic", frames=2)


def test_image_frames_from_a_video_file(sequences):
    av = pytest.importorskip("av")
    frames = video_sample(1, seed=2, size=16, frames=6)["image"]
    path = sequences / "train_B" / "seq001.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)  # lossless
        stream.width, stream.height, stream.pix_fmt = 16, 16, "bgr0"
        for frame in np.round((frames + 1) * 127.5).astype(np.uint8):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    for png in (sequences / "train_B" / "seq001").iterdir():
        png.unlink()
    (sequences / "train_B" / "seq001").rmdir()
    dataset = video_clips(
        sequences,
        "synthetic",
        frames=None,
        training=False,
        batch_size=None,
        preprocess="none",
        size_multiple=16,
    )
    clip = batches(dataset)[1]
    np.testing.assert_allclose(clip["image"], frames, atol=1 / 127)


@pytest.mark.parametrize(
    "member, what, frame",
    [
        ("train_B", "image", np.zeros((12, 16, 3), np.uint8)),
        ("train_A", "label map", np.zeros((12, 16), np.uint8)),
    ],
)
def test_frames_of_another_size_within_a_sequence(sequences, member, what, frame):
    path = save_image(sequences / member / "seq001" / "00002.png", frame)
    first = sequences / "train_A" / "seq001" / "00000.png"
    expect_error(sequences, f"{path}: {what} is 16x12, expected the size of {first} (16x16)")


def test_clips_need_enough_frames(sequences):
    sequence = sequences / "train_A" / "seq000"
    with pytest.raises(ValueError, match=re.escape(f"{sequence}: 6 frames, expected at least 7")):
        video_clips(sequences, "synthetic", frames=7)
    with pytest.raises(ValueError, match="frames=0: expected at least 1 frame per clip, or None"):
        video_clips(sequences, "synthetic", frames=0)


def test_label_id_out_of_range_in_a_frame(sequences):
    path = sequences / "train_A" / "seq000" / "00004.png"
    save_image(path, np.full((16, 16), 9, np.uint8))
    expect_error(sequences, f"{path}: label id 9 >= label_nc 5")


@pytest.mark.parametrize("member", ["train_B", "train_inst"])
def test_unreadable_frame_files(sequences, member):
    path = sequences / member / "seq001" / "00003.png"
    path.write_bytes(b"not a png")
    expect_error(sequences, f"{path}: cannot be read as an image")


def test_mp4_round_trip_through_pyav_and_the_loader(tmp_path):
    av = pytest.importorskip("av", reason="the video extra: pip install keras-i2i[video]")
    synthetic.write_videos(tmp_path, 2, frames=6, size=64, seed=2)
    frames = video_sample(1, seed=2, size=64, frames=6)["image"]
    path = write_video(tmp_path / "train_B" / "seq001.mp4", (frame for frame in frames), fps=12)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 12 and (stream.width, stream.height) == (64, 64)
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    assert decoded.shape == (6, 64, 64, 3)
    assert np.abs(decoded / 127.5 - 1 - frames).mean() < 0.05  # h264 yuv420p: 0.033
    shutil.rmtree(tmp_path / "train_B" / "seq001")
    clip = batches(
        video_clips(tmp_path, "synthetic", frames=None, training=False, batch_size=None)
    )[1]
    np.testing.assert_allclose(clip["image"], decoded / 127.5 - 1, atol=1e-6)


def test_write_video_pads_odd_sizes_and_checks_frame_sizes(tmp_path):
    av = pytest.importorskip("av", reason="the video extra: pip install keras-i2i[video]")
    frames = np.full((3, 15, 17, 3), 0.5, np.float32)
    with av.open(str(write_video(tmp_path / "odd.mp4", frames))) as container:
        assert [(f.width, f.height) for f in container.decode(video=0)] == [(18, 16)] * 3
    path = tmp_path / "bad.mp4"
    message = f"{path}: frame 1 is 16x8, expected the first frame's 16x16"
    with pytest.raises(ValueError, match=re.escape(message)):
        write_video(path, [np.zeros((16, 16, 3)), np.zeros((8, 16, 3))])
    with pytest.raises(ValueError, match=re.escape(f"{path}: no frames to write")):
        write_video(path, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]


def test_write_video_needs_the_video_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match=r"pip install keras-i2i\[video\]"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 16, 16, 3)))


def test_frame_strip_has_a_column_per_frame_and_a_row_per_clip(tmp_path):
    clip = video_sample(0, size=32, frames=3)
    path = save_frame_strip(tmp_path / "strip.png", clip["label"], clip["image"])
    strip = np.asarray(Image.open(path))
    assert strip.shape == (18 + 2 * 96, 3 * 96, 3)  # titles, 32-pixel frames enlarged 3x
    cell = strip[18 + 96 :, 96 : 2 * 96]
    np.testing.assert_array_equal(cell[::3, ::3], to_uint8(clip["image"][1]).numpy())
    with pytest.raises(ValueError, match=r"clips of \[2, 3\] frames, expected one length"):
        save_frame_strip(tmp_path / "bad.png", clip["image"], clip["image"][:2])

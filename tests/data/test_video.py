"""Video clips from per-sequence frame folders (vid2vid layout) and from video files (PyAV)."""

import sys

import numpy as np
import pytest

from keras_i2i.data import synthetic, video_clips
from keras_i2i.data.synthetic.datasets import video_sample
from tests.data.conftest import batches


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

"""Progress: sample grids (PNG and TensorBoard), scalar losses and learning rates."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_i2i import schedules, visualize
from keras_i2i.callbacks import SampleGrid, TensorBoardScalars
from tests.toy_gan import ToyGAN, toy_dataset


def events(log_dir):
    """`{tag: [(step, value)]}` from the TensorBoard event files in `log_dir`."""
    found = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                found.setdefault(value.tag, []).append((event.step, tensor))
    return found


def test_sample_grid_writes_input_output_target_rows_as_png_and_tensorboard(tmp_path):
    model = ToyGAN(width=4)
    model.compile()
    batch = next(iter(toy_dataset(batch_size=3, num=3)))
    grid = SampleGrid(batch, directory=tmp_path / "samples", log_dir=tmp_path / "tb", every=2)
    model.fit(toy_dataset(batch_size=1, num=5), epochs=1, verbose=0, callbacks=[grid])
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step-000000000.png", "step-000000002.png", "step-000000004.png", "step-000000005.png"]
    image = np.asarray(Image.open(tmp_path / "samples" / "step-000000005.png"))
    # A title band, then a row per sample: input | output | target, 8x8 cells shown 12x.
    assert image.shape == (18 + 3 * 96, 3 * 96, 3)
    cells = image[18::12, ::12]
    expected_target = visualize.to_uint8(batch["image"][1]).numpy()
    np.testing.assert_array_equal(cells[8:16, 16:24], expected_target)
    expected_output = visualize.to_uint8(model(batch["input"])[2]).numpy()
    np.testing.assert_array_equal(cells[16:24, 8:16], expected_output)
    titles = image[:18]
    assert all((titles[:, 96 * k:96 * (k + 1)] < 100).any() for k in range(3))  # each titled
    images = events(tmp_path / "tb")["samples"]
    assert [step for step, _ in images] == [0, 2, 4, 5]


def test_label_maps_get_one_colour_per_id():
    labels = tf.constant([[[[0], [1]], [[1], [300]]]], tf.int32)
    rgb = visualize.as_rgb(labels).numpy()
    assert rgb.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(rgb[0, 0, 1], rgb[0, 1, 0])
    assert not np.allclose(rgb[0, 0, 0], rgb[0, 0, 1])
    np.testing.assert_array_equal(rgb[0, 1, 1], visualize.as_rgb(tf.constant([[[[44]]]]))[0, 0, 0])


def test_scalars_log_every_loss_and_every_learning_rate_at_the_model_step(tmp_path):
    model = ToyGAN(width=4, learning_rate=1e-2)
    model.compile(optimizers={"discriminator": keras.optimizers.Adam(4e-2)},
                  learning_rate_schedule=schedules.linear_decay(
                      steps_per_epoch=2, constant_epochs=1, decay_epochs=2))
    model.fit(toy_dataset(batch_size=2, num=4), epochs=3, verbose=0,
              callbacks=[TensorBoardScalars(tmp_path, every=2)])
    found = events(tmp_path)
    assert set(found) == {"loss/g_loss", "loss/d_loss", "learning_rate/generator",
                          "learning_rate/discriminator"}
    assert [step for step, _ in found["loss/g_loss"]] == [2, 4, 6]
    # the rates of the steps 2, 4, 6 (0-based epochs 0, 1, 2): 1 constant epoch, 2 decaying
    np.testing.assert_allclose([v for _, v in found["learning_rate/generator"]],
                               [1e-2, 1e-2, 5e-3], atol=1e-9)
    np.testing.assert_allclose([v for _, v in found["learning_rate/discriminator"]],
                               [4e-2, 4e-2, 2e-2], atol=1e-9)


def test_sample_grid_needs_somewhere_to_write():
    with pytest.raises(ValueError, match="needs a `directory`"):
        SampleGrid({}, every=1)

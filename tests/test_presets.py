"""Built-in presets against the datasets they name; preset folders whose weights do not fit."""

import json

import pytest

from keras_i2i import data, presets
from keras_i2i.models import registry
from keras_i2i.models.spade import SPADE
from tests.toy_gan import ToyGAN

registry.list_models()  # every model package registers its presets


def _presets_with_datasets():
    for model_name, table in presets._REGISTRY.items():
        for name, preset in table.items():
            if "dataset" in preset:
                yield pytest.param(preset, id=f"{model_name}/{name}")


@pytest.mark.parametrize("preset", list(_presets_with_datasets()))
def test_a_presets_dataset_has_its_label_conventions(preset):
    settings = data.dataset_settings(preset["dataset"])
    config = preset["config"]
    assert config.get("label_nc", 0) == settings.label_nc
    assert config.get("contain_dontcare_label", False) == settings.contain_dontcare_label


def test_the_command_line_feeds_a_preset_its_dataset():
    assert presets.preset_dataset("SPADE", "coco") == "coco_stuff"
    assert presets.preset_dataset("SPADE", "facades") == "facades_labels"
    assert presets.preset_dataset("SPADE", "runs/spade/preset") is None


def test_weights_of_another_configuration_name_the_first_differing_weight(tmp_path):
    ToyGAN(width=8).save_to_preset(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["config"]["width"] = 4
    (tmp_path / "config.json").write_text(json.dumps(config))
    expected = (f"{tmp_path / 'model.weights.h5'}: discriminator/layers/conv2d/vars/0 has shape "
                "(3, 3, 3, 8), but config.json builds (3, 3, 3, 4): were the weights written "
                "with another configuration?")
    with pytest.raises(ValueError) as raised:
        ToyGAN.from_preset(tmp_path)
    assert str(raised.value) == expected and raised.value.__suppress_context__


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras's, before its error
def test_weights_missing_from_the_file_are_named(tmp_path):
    tiny = dict(label_nc=3, image_size=(32, 32), ngf=4, ndf=4, spade_hidden=8, n_layers_D=2)
    SPADE(**tiny, num_D=1).save_to_preset(tmp_path)
    message = (r"model\.weights\.h5: has no discriminator/\S+, which config\.json with the "
               r"overrides builds with shape \(.*\): were the weights written with another "
               r"configuration\?$")
    with pytest.raises(ValueError, match=message):
        SPADE.from_preset(tmp_path, num_D=2)

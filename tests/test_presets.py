"""Built-in presets against the datasets they name."""

import pytest

from keras_i2i import data, presets
from keras_i2i.models import registry

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

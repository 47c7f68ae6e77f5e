"""train.models: every builder reproduces its tutorial's parameter counts; weights are handled."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import keras
import numpy as np
import pytest

from train.config import MODEL_NAMES, ModelConfig
from train.errors import ConfigError, WeightsUnavailableError
from train.models import MODEL_BUILDERS, build_model

# Keras 3.15 converts tensors with a NumPy-2-deprecated call; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _trainable(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A VGG16 notop weights file of random weights: what `--weights PATH` loads, offline.

    A notop base's weights do not depend on the input size, so a 32x32 base writes them.
    """
    path = tmp_path_factory.mktemp("weights") / "vgg16_notop.weights.h5"
    keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3)
                             ).save_weights(path)
    return str(path)


def _weights(name: str, vgg_weights: str) -> str:
    return vgg_weights if name.startswith("vgg16") else "none"


@pytest.mark.parametrize(("name", "classes", "total", "trainable"), [
    ("shapes", 3, 839_107, 839_107),
    ("cifar", 10, 816_938, 815_530),  # BatchNorm's moving mean and variance do not train
    ("scratch224", 3, 2_283_779, 2_283_779),
    ("vgg16-features", 3, 17_936_515, 3_221_827),
    ("vgg16-finetune", 3, 17_936_515, 5_581_635),
])
def test_parameter_counts_match_the_tutorials(name: str, classes: int, total: int,
                                              trainable: int, vgg_weights: str) -> None:
    model = build_model(ModelConfig(name, weights=_weights(name, vgg_weights)),  # type: ignore[arg-type]
                        classes)
    assert model.count_params() == total
    assert _trainable(model) == trainable
    assert model.output_shape == (None, classes)


@pytest.mark.parametrize("name", ["vgg16-features", "vgg16-finetune"])
def test_vgg16_base_alone(name: str, vgg_weights: str) -> None:
    model = build_model(ModelConfig(name, weights=vgg_weights), 3)  # type: ignore[arg-type]
    base = model.get_layer("vgg16")
    assert base.count_params() == 14_714_688
    trainable = [layer.name for layer in base.layers if layer.trainable and layer.weights]
    assert trainable == ([] if name == "vgg16-features" else ["block5_conv3"])


def test_every_configurable_model_has_a_builder() -> None:
    assert set(MODEL_BUILDERS) == set(MODEL_NAMES)


def test_models_take_raw_pixels() -> None:
    """Scaling is inside the model, so a saved model needs no preprocessing outside."""
    model = build_model(ModelConfig("shapes"), 3)
    assert isinstance(model.layers[0], keras.layers.Rescaling)


def _online() -> bool:
    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=3).close()
    except OSError:
        return False
    return True


def test_imagenet_weights_offline_say_how_to_pass_a_file(tmp_path: Path, monkeypatch) -> None:
    if _online():
        pytest.skip("this machine is online: the offline message cannot be provoked")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cached weights
    with pytest.raises(WeightsUnavailableError) as error:
        build_model(ModelConfig("vgg16-features", weights="imagenet"), 3)
    message = str(error.value)
    assert "--weights PATH" in message and "notop.h5" in message and "\n" not in message
    assert "--weights none" not in message and "--model scratch224" in message


def test_vgg16_weights_from_a_local_file(tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    source.save_weights(path)
    keras.utils.set_random_seed(2)
    model = build_model(ModelConfig("vgg16-finetune", image_size=(32, 32), weights=str(path)), 3)
    loaded = model.get_layer("vgg16").get_layer("block1_conv1").get_weights()[0]
    np.testing.assert_array_equal(loaded, source.get_layer("block1_conv1").get_weights()[0])


def test_bad_weights_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.h5"
    path.write_bytes(os.urandom(64))
    with pytest.raises(ConfigError, match="not a VGG16"):
        build_model(ModelConfig("vgg16-features", image_size=(32, 32), weights=str(path)), 3)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "shapes", "weights": "imagenet"}, "no pretrained base"),
    ({"name": "vgg16-features", "weights": "none"}, "frozen base with random weights"),
    ({"name": "vgg16-finetune", "weights": "none"}, "--model scratch224"),
    ({"name": "vgg16-features", "weights": "/no/such/file.h5"}, "no such file"),
    ({"name": "vgg16-features", "color_mode": "grayscale"}, "takes rgb"),
    ({"name": "cifar", "image_size": (4, 4)}, "sides >= 8"),
    ({"name": "resnet"}, "expected one of"),
])
def test_model_config_is_checked(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**kwargs)  # type: ignore[arg-type]


def test_weights_default_depends_on_the_model() -> None:
    assert ModelConfig("vgg16-features").weights_source == "imagenet"
    assert ModelConfig("shapes").weights_source == "none"
    assert ModelConfig("scratch224").input_shape == (224, 224, 3)
    assert ModelConfig("shapes", color_mode="grayscale").input_shape == (24, 24, 1)

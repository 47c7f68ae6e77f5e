"""The tutorials' networks, one named builder each, with pixel scaling inside the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import layers

from train.config import ModelConfig
from train.errors import ConfigError, WeightsUnavailableError

Builder = Callable[[ModelConfig, int], keras.Model]

VGG16_NOTOP_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                   "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")


@keras.saving.register_keras_serializable(package="train")
class VGGPreprocess(layers.Layer):  # type: ignore[misc]  # Keras is untyped
    """ImageNet VGG16 weights expect BGR pixels minus the ImageNet mean, not [0, 1] pixels.

    Inside the model, so a saved model takes the same raw 0-255 pixels as every other builder.
    """

    def call(self, inputs: Any) -> Any:
        return keras.applications.vgg16.preprocess_input(inputs)


def _mlp_head(num_classes: int) -> list[layers.Layer]:
    return [layers.Flatten(), layers.Dense(128, activation="relu"),
            layers.Dense(64, activation="relu"), layers.Dense(32, activation="relu"),
            layers.Dense(num_classes, activation="softmax")]


def shapes(config: ModelConfig, num_classes: int) -> keras.Model:
    """The hand-drawn shapes tutorial: 839,107 parameters at 24x24x3 for 3 classes."""
    return keras.Sequential([
        keras.Input(config.input_shape), layers.Rescaling(1 / 255),
        layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(128, activation="relu"),
        layers.Dense(num_classes, activation="softmax")], name="shapes")


def cifar(config: ModelConfig, num_classes: int) -> keras.Model:
    """The CIFAR-10 tutorial's VGG-style CNN: 816,938 parameters at 32x32x3 for 10 classes."""
    stack: list[layers.Layer] = [keras.Input(config.input_shape), layers.Rescaling(1 / 255)]
    for filters in (32, 64, 128):
        for _ in range(2):
            stack += [layers.Conv2D(filters, 3, padding="same", activation="relu"),
                      layers.BatchNormalization()]
        stack.append(layers.MaxPooling2D(2))
    stack += [layers.Flatten(), layers.Dense(256, activation="relu"), layers.BatchNormalization(),
              layers.Dense(num_classes, activation="softmax")]
    return keras.Sequential(stack, name="cifar")


def scratch224(config: ModelConfig, num_classes: int) -> keras.Model:
    """The 224x224 from-scratch CNN (convs 128-256-128-64, head 128-64-32): 2,283,779 for 3."""
    stack: list[layers.Layer] = [keras.Input(config.input_shape), layers.Rescaling(1 / 255)]
    for filters in (128, 256, 128, 64):
        stack += [layers.Conv2D(filters, 3, padding="same", activation="relu"),
                  layers.MaxPooling2D(2)]
    return keras.Sequential(stack + _mlp_head(num_classes), name="scratch224")


def _vgg16_base(config: ModelConfig) -> keras.Model:
    """VGG16 without its top, with the weights `config` names.

    Raises:
        WeightsUnavailableError: `imagenet` weights are not cached and cannot be downloaded.
        ConfigError: a weights file does not fit VGG16.
    """
    source = config.weights_source  # never "none": ModelConfig refuses a frozen random base
    try:
        return keras.applications.VGG16(include_top=False, weights=source,
                                        input_shape=config.input_shape)
    except (ValueError, OSError) as error:
        raise ConfigError(f"weights: {source} is not a VGG16 (no top) weights file: "
                          f"{str(error).splitlines()[0]}") from error
    except Exception as error:
        # keras.utils.get_file raises a bare Exception("URL fetch failure ...") when offline.
        if not str(error).startswith("URL fetch failure"):
            raise
        raise WeightsUnavailableError(
            f"--weights imagenet: cannot download the VGG16 ImageNet weights (no internet?). "
            f"Get {VGG16_NOTOP_URL} on a connected machine, then pass the file with "
            f"--weights PATH/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (or copy it into "
            f"~/.keras/models/), or train from scratch with --model scratch224") from error


def _vgg16(config: ModelConfig, num_classes: int, trainable: frozenset[str], name: str
           ) -> keras.Model:
    base = _vgg16_base(config)
    for layer in base.layers:
        layer.trainable = layer.name in trainable
    inputs = keras.Input(config.input_shape)
    outputs = base(VGGPreprocess()(inputs))
    for layer in _mlp_head(num_classes):
        outputs = layer(outputs)
    return keras.Model(inputs, outputs, name=name)


def vgg16_features(config: ModelConfig, num_classes: int) -> keras.Model:
    """Frozen VGG16 base + the MLP head: 17,936,515 parameters, 3,221,827 trainable, for 3."""
    return _vgg16(config, num_classes, frozenset(), "vgg16_features")


def vgg16_finetune(config: ModelConfig, num_classes: int) -> keras.Model:
    """VGG16 with only block5_conv3 trainable + the MLP head: 5,581,635 trainable, for 3."""
    return _vgg16(config, num_classes, frozenset({"block5_conv3"}), "vgg16_finetune")


MODEL_BUILDERS: dict[str, Builder] = {
    "shapes": shapes,
    "cifar": cifar,
    "scratch224": scratch224,
    "vgg16-features": vgg16_features,
    "vgg16-finetune": vgg16_finetune,
}


def build_model(config: ModelConfig, num_classes: int) -> keras.Model:
    """The named tutorial network for `num_classes`, uncompiled.

    Raises:
        WeightsUnavailableError, ConfigError: pretrained weights cannot be had (VGG16 models).
    """
    return MODEL_BUILDERS[config.name](config, num_classes)

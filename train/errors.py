"""Typed errors; each carries the exit code the CLI turns it into."""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_RUNTIME = 3


class TrainError(Exception):
    """Base of every error this library raises on purpose."""

    exit_code = EXIT_RUNTIME


class ConfigError(TrainError):
    """A bad option or combination of options: found before any work starts."""

    exit_code = EXIT_USAGE


class DatasetError(TrainError):
    """A data folder is missing, empty, inconsistent with its manifest or unreadable by Keras."""

    exit_code = EXIT_USAGE


class ClassMismatchError(DatasetError):
    """Train, validation and test folders do not hold the same classes."""


class RunFolderError(TrainError):
    """A run folder is missing its artifacts, or would be overwritten."""

    exit_code = EXIT_USAGE


class WeightsUnavailableError(TrainError):
    """Pretrained weights could not be downloaded (offline machine)."""

    exit_code = EXIT_RUNTIME

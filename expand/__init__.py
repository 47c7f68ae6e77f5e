"""Offline, reproducible image-dataset expansion with ImageDataGenerator's parameters.

The public API, loaded on first use so that `expand --help` stays quick:
`AugmentConfig` (with `AugmentConfig.from_keras(**imagedatagenerator_kwargs)`), `ExpandConfig`,
`expand_dataset`, `dry_run`, and the `ExpandError` hierarchy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.5.0"

_PUBLIC = {
    "AugmentConfig": "expand.config",
    "ExpandConfig": "expand.config",
    "expand_dataset": "expand.run.runner",
    "dry_run": "expand.run.runner",
    "RunSummary": "expand.run.runner",
    "ExpandError": "expand.errors",
    "ConfigError": "expand.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'expand' has no attribute {name!r}")

"""Shared fixtures: the bundled samples, the shared data beside the checkout, and tree snapshots."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "shapes"
SHARED = ROOT.parent / "shared"


@pytest.fixture
def samples_train() -> Path:
    return SAMPLES / "train"


@pytest.fixture
def shared_shapes() -> Path:
    path = SHARED / "datasets" / "handwriting_shape"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the shared data sits beside the checkout in CI only")
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (relative POSIX path → SHA-256): what 'byte-identical' compares."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}

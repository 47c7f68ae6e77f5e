"""The catalogue as one definition per transform, proved by two added ones: solarize (a pixel
kernel) and rot90 (a matrix in the one resample), each in run, preview, inspect, replay and
config init."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from expand.augment import functional as F
from expand.augment.geometric import Corners, CropBox, Perspective, RandomCrop, Rot90, Turn
from expand.augment.params import AugmentParams
from expand.augment.photometric import Solarize, Threshold
from expand.augment.pipeline import apply_params, geometry
from expand.augment.transform_base import GeometricTransform, PixelTransform
from expand.augment.transforms import CATALOGUE, transform_from_dict
from expand.config import AugmentConfig, ExpandConfig
from expand.errors import ConfigError
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset
from expand.tools.inspection import inspect_output
from expand.tools.preview import describe, preview
from expand.tools.replay import load_run, replay


def _expand(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expand", *map(str, args)], capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)


def _image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _dataset(root: Path) -> Path:
    """Two classes of small squares (RGB, and RGBA with varied alpha)."""
    for label, channels in (("a", 3), ("b", 4)):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(_image((16, 16, channels), seed=10 * channels + i)) \
                .save(root / label / f"{i}.png")
    return root


def _solarized(image: np.ndarray, threshold: float, has_alpha: bool) -> np.ndarray:
    out = image.copy()
    colour = out[..., :-1] if has_alpha else out
    colour[colour >= threshold] = 255 - colour[colour >= threshold]
    return out


# ---- the two definitions, each on its own ----


def test_both_are_listed_with_their_kind() -> None:
    assert CATALOGUE["solarize"] is Solarize and issubclass(Solarize, PixelTransform)
    assert CATALOGUE["rot90"] is Rot90 and issubclass(Rot90, GeometricTransform)
    assert transform_from_dict({"name": "rot90", "k": [1, 3], "p": 0.5}, "t") == Rot90(0.5, (1, 3))
    assert transform_from_dict({"name": "solarize", "threshold": [10, 20]}, "t") == \
        Solarize(threshold=(10.0, 20.0))


@pytest.mark.parametrize("entry, message", [
    ({"name": "rot90", "k": []}, "rot90.k: expected distinct quarter-turn counts from [1, 2, 3]"),
    ({"name": "rot90", "k": [4]}, "rot90.k: expected distinct"),
    ({"name": "rot90", "k": [1, 1]}, "rot90.k: expected distinct"),
    ({"name": "rot90", "k": 1}, "rot90.k: expected distinct"),
    ({"name": "solarize", "threshold": [0, 256]},
     "solarize.threshold: expected [a, b] with a <= b, both in [0, 255], got [0, 256]"),
])
def test_bad_settings_are_refused_with_the_field(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        transform_from_dict(entry, "transforms[0]")


@pytest.mark.parametrize("threshold", [0.0, 100.5, 128.0, 255.0])
@pytest.mark.parametrize("channels, has_alpha", [(1, False), (3, False), (2, True), (4, True)])
def test_solarize_kernel_matches_a_numpy_reference(threshold: float, channels: int,
                                                   has_alpha: bool) -> None:
    image = _image((9, 11, channels))
    image.flags.writeable = False  # decoded sources are read-only: the kernel must copy
    out = Solarize.kernel(image, Threshold(threshold), has_alpha)
    assert np.array_equal(out, _solarized(image, threshold, has_alpha))
    if has_alpha:
        assert np.array_equal(out[..., -1], image[..., -1])


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("channels, has_alpha", [(3, False), (1, False), (4, True)])
def test_rot90_on_a_square_is_exactly_np_rot90(k: int, channels: int, has_alpha: bool) -> None:
    image = _image((17, 17, channels), seed=k)
    config = AugmentConfig(fill_mode="constant", cval=7, transforms=(Rot90(),))
    out = apply_params(image, AugmentParams(extra=(("rot90", Turn(k)),)), config, has_alpha)
    assert np.array_equal(out, np.rot90(image, k))


def test_rot90_on_a_non_square_frame_turns_about_its_centre_and_fills_the_rest() -> None:
    image = _image((4, 8, 3))
    config = AugmentConfig(fill_mode="constant", cval=7, transforms=(Rot90(),))
    half = apply_params(image, AugmentParams(extra=(("rot90", Turn(2)),)), config, False)
    assert np.array_equal(half, np.rot90(image, 2))
    quarter = apply_params(image, AugmentParams(extra=(("rot90", Turn(1)),)), config, False)
    # The frame keeps its 8x4 size: the central 4x4 turns in place, the sides are fill.
    assert np.array_equal(quarter[:, 2:6], np.rot90(image[:, 2:6]))
    assert (quarter[:, :2] == 7).all() and (quarter[:, 6:] == 7).all()


def test_rot90_draws_only_the_listed_turns_uniformly() -> None:
    turn = Rot90(k=(1, 3))
    rng = np.random.default_rng(0)
    drawn = [turn.sample(rng, 10, 10).k for _ in range(3000)]
    assert set(drawn) == {1, 3} and abs(drawn.count(1) / 3000 - 0.5) < 0.03


# ---- composition: one resample, in the declared order ----


def test_rot90_composes_into_the_one_matrix_between_the_crop_and_keras() -> None:
    width, height = 30, 20
    box, turn = CropBox(2.0, 3.0, 24.0, 16.0), Turn(3)
    corners = Corners(((1.0, 2.0), (28.0, 0.5), (29.0, 18.0), (0.0, 19.0)))
    params = AugmentParams(theta=12.0, zx=1.1, zy=0.9, extra=(
        ("perspective", corners), ("rot90", turn), ("random_crop", box)))  # listed out of order
    matrix, projective = geometry(params, width, height)
    keras = F.affine_matrix(12.0, 0.0, 0.0, 0.0, 1.1, 0.9, width, height)
    expected = (RandomCrop.matrix(box, width, height)
                @ (Rot90.matrix(turn, width, height) @ keras)) \
        @ Perspective.matrix(corners, width, height)
    assert projective and np.array_equal(matrix, expected)


def test_rot90_with_other_geometry_is_still_one_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for name in ("warpAffine", "warpPerspective", "remap", "resize"):
        original = getattr(cv2, name)
        monkeypatch.setattr(cv2, name, lambda *a, _n=name, _o=original, **k: (calls.append(_n),
                                                                             _o(*a, **k))[1])
    image = _image((20, 20, 3))
    config = AugmentConfig(rotation_range=20, zoom_range=0.2, fill_mode="constant",
                           transforms=(RandomCrop(size_frac=0.8), Rot90(), Solarize()))
    params = AugmentParams(theta=10.0, extra=(("random_crop", CropBox(1.0, 2.0, 16.0, 16.0)),
                                              ("rot90", Turn(1)), ("solarize", Threshold(99.0))))
    out = apply_params(image, params, config, False)
    assert calls == ["warpAffine"]
    matrix, _ = geometry(params, 20, 20)
    warped = F.warp_affine(image, matrix, "constant", 0.0, False)
    assert np.array_equal(out, _solarized(warped, 99.0, False))


def test_captions_put_the_turn_first() -> None:
    params = AugmentParams(zx=1.2, zy=1.2, extra=(("solarize", Threshold(131.4)),
                                                  ("rot90", Turn(3))))
    assert describe(params.to_dict()) == ["turn 270°", "zoom 1.2/1.2", "solarize 131"]


# ---- a real run: manifest, pixels, replay, preview, inspect ----


def test_a_run_records_both_and_replays_its_bytes(tmp_path: Path) -> None:
    src, out = _dataset(tmp_path / "src"), tmp_path / "out"
    augment = AugmentConfig(fill_mode="constant",
                            transforms=(Solarize(p=0.7, threshold=(60.0, 200.0)), Rot90(p=0.8)))
    config = ExpandConfig(src=src, out=out, copies=4, seed=3, workers=1, augment=augment)
    expand_dataset(config)
    rows = [r for r in read_manifest(out) if r["copy"] is not None]
    assert len(rows) == 24
    turns = [r["params"]["rot90"] for r in rows]
    thresholds = [r["params"]["solarize"] for r in rows]
    assert {t["k"] for t in turns if t} == {1, 2, 3} and None in turns
    assert all(60 <= t["threshold"] <= 200 for t in thresholds if t) and None in thresholds
    for row in rows:  # each copy is its source turned, then solarized: nothing else happened
        source = np.asarray(Image.open(src / row["source"]))
        expected = np.rot90(source, row["params"]["rot90"]["k"]) if row["params"]["rot90"] \
            else source
        if row["params"]["solarize"]:
            expected = _solarized(expected, row["params"]["solarize"]["threshold"],
                                  source.shape[2] == 4)
        assert np.array_equal(np.asarray(Image.open(out / row["file_name"])), expected)
    results = list(replay(load_run(out), None))
    assert len(results) == 24 and all(r.ok for r in results), [r.explain() for r in results]

    _, cells, unreadable = preview(config, per_class=1, variants=4, cell=64)
    captions = [line for c in cells for line in c.caption]
    assert not unreadable and any(c.startswith("turn ") for c in captions)
    assert any(c.startswith("solarize ") for c in captions)

    _, _, stats, unreadable = inspect_output(load_run(out), per_class=2, cell=64)
    assert not unreadable
    assert stats["transforms"]["rot90"]["copies"] == 24
    assert stats["transforms"]["rot90"]["fired"] == sum(t is not None for t in turns)
    assert stats["transforms"]["solarize"]["configured"] == 0.7
    assert {"rot90.k", "solarize.threshold"} <= set(stats["params"])


@pytest.mark.slow
def test_config_init_offers_both_and_the_cli_runs_them(tmp_path: Path) -> None:
    """Through the command line: the starter lists both; uncommented, they run, replay,
    preview and inspect."""
    starter = tmp_path / "starter.toml"
    done = _expand("config", "init", starter, "--preset", "none")
    assert done.returncode == 0, done.stderr
    lines = starter.read_text().splitlines()
    enabled: list[str] = []
    for name in ("solarize", "rot90"):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"# {name}: "))
        table = []
        for line in lines[at + 1:]:
            if not line.startswith("# "):
                break
            table.append(line[2:])
        assert table[0] == "[[transforms]]"
        enabled += table
    config_file = tmp_path / "both.toml"
    config_file.write_text("version = 2\nfill_mode = \"constant\"\n" + "\n".join(enabled) + "\n")
    src, out = _dataset(tmp_path / "src"), tmp_path / "out"
    done = _expand(src, "--out", out, "--config", config_file, "--copies", "3", "--seed", "1")
    assert done.returncode == 0, done.stderr
    rows = [r for r in read_manifest(out) if r["copy"] is not None]
    assert all({"solarize", "rot90"} <= set(r["params"]) for r in rows)
    assert any(r["params"]["rot90"] for r in rows) and any(r["params"]["solarize"] for r in rows)
    assert _expand("replay", out, "--all", "--quiet").returncode == 0
    inspected = _expand("inspect", out, "--out", tmp_path / "inspect.png", "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert {"solarize", "rot90"} <= set(json.loads(inspected.stdout)["stats"]["transforms"])
    previewed = _expand("preview", src, "--out", tmp_path / "preview.png", "--config",
                        config_file, "--json")
    assert previewed.returncode == 0, previewed.stderr
    assert "solarize" in previewed.stdout and "turn " in previewed.stdout

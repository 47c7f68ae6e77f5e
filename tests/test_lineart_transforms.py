"""Line-art transforms through the framework: stroke width kept through a 40% zoom, polarity on
inverted inputs, RGB/L/RGBA, identity, streams, replay, and the skip of what is not line art."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from expand.augment import line_art_transforms as LA
from expand.augment import lineart as L
from expand.augment import transform_base as B
from expand.augment import transforms as T
from expand.augment.params import AugmentParams, sample_params
from expand.augment.pipeline import apply_params, copy_polarity, output_map
from expand.augment.seeding import rng_for, source_key
from expand.config import PRESETS, AugmentConfig, ExpandConfig
from expand.errors import ConfigError, NotLineArtError
from expand.run.manifest import read_manifest
from expand.run.runner import expand_dataset
from expand.tools.replay import load_run, replay
from tests.test_lineart import shapes

SIZE = 128
WIDTH = 3.0
ZOOM_OUT = 1 / 0.4  # Keras's zx, zy: 2.5 shows the content at 40% of its size


def _source(seed: int = 0) -> np.ndarray:
    return shapes(SIZE, WIDTH, np.random.default_rng(seed))


def _as(mode: str, grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Dark strokes on light paper (H, W) as an L, RGB or RGBA array and whether it has alpha."""
    if mode == "L":
        return grey[..., None], False
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if mode == "RGB":
        return rgb, False
    return np.concatenate([rgb, np.full_like(grey[..., None], 255)], axis=2), True


def _copy(image: np.ndarray, config: AugmentConfig, has_alpha: bool,
          copy: int = 0) -> tuple[np.ndarray, AugmentParams]:
    key = source_key("c/a.png")
    height, width = image.shape[:2]
    params = sample_params(config, lambda name: rng_for(0, key, copy, name), (width, height))
    return apply_params(image, params, config, has_alpha), params


def _zoom_out(*transforms: T.Transform) -> AugmentConfig:
    return AugmentConfig(zoom_range=(ZOOM_OUT, ZOOM_OUT), transforms=transforms)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("inverted", [False, True])
def test_a_zoom_out_to_40_percent_keeps_the_stroke_width_with_stroke_preserve(
        mode: str, inverted: bool) -> None:
    grey = _source()
    if inverted:
        grey = 255 - grey
    image, has_alpha = _as(mode, grey)
    polarity = L.detect_polarity(image)
    assert polarity.dark_on_light != inverted
    source_width = L.stroke_width(image, polarity)
    assert source_width == pytest.approx(WIDTH, abs=0.25)

    kept, _ = _copy(image, _zoom_out(T.StrokePreserve()), has_alpha)
    assert kept.shape == image.shape
    out_polarity = L.detect_polarity(kept)
    assert out_polarity.dark_on_light != inverted  # polarity found per source and kept
    assert abs(L.stroke_width(kept, out_polarity) - source_width) <= 0.5
    # the paper fills the frame: the corners are paper, not a replicated edge
    corner = kept[0, 0, 0] if kept.ndim == 3 else kept[0, 0]
    assert abs(float(corner) - polarity.paper_level) <= 1
    box = L.ink_bbox(kept, out_polarity)
    assert box is not None and (box[2] - box[0]) <= 0.45 * SIZE

    for thinning in (AugmentConfig(zoom_range=(ZOOM_OUT, ZOOM_OUT)),  # Keras's warp
                     _zoom_out(T.InkPaper(p=0.0))):  # line art listed, strokes not kept
        warped, _ = _copy(image, thinning, has_alpha)
        assert L.stroke_width(warped, polarity) < source_width - 1.0


def test_stroke_width_and_placement_on_the_shared_drawings(shared_shapes: Path) -> None:
    source = shared_shapes / "train" / "triangle" / "triangle001.png"
    image = np.asarray(Image.open(source))
    # Large enough for the strokes to stay apart (at 24 px, a small copy's strokes touch and
    # its measured width is the blob's).
    preset = AugmentConfig(**PRESETS["line-art"])
    config = replace(preset, transforms=tuple(
        T.Placement(size=(0.8, 1.0)) if t.name == "placement" else t
        for t in preset.transforms))
    polarity = L.detect_polarity(image)
    width = L.stroke_width(image, polarity)
    for copy in range(8):
        out, params = _copy(image, config, True, copy)
        assert out.shape == image.shape and (out[..., 3] == 255).all()
        factor = params.get("stroke_width")
        expected = width * (factor.factor if isinstance(factor, LA.Factor) else 1.0)
        pen = params.get("pen")  # the preset's pen: its width, or its cap
        if isinstance(pen, LA.PenWidth):
            traced = L.trace(image)
            x0, y0, x1, y1 = L.box_through(traced.bbox, output_map(params, traced, 24, 24))
            expected = min(pen.width_px, pen.max_width_frac * min(x1 - x0, y1 - y0))
        own = copy_polarity(params, L.trace(image))  # the copy's ink (ink_paper may lighten it)
        assert L.ink_bbox(out, own) is not None
        assert abs(L.stroke_width(out, own) - expected) <= 0.6, copy


def test_told_polarity_overrides_the_majority_rule() -> None:
    grey = _source()
    image, _ = _as("L", grey)
    told = L.polarity_of(image, "light-on-dark")
    assert not told.dark_on_light and told.paper == L.detect_polarity(image).ink
    assert L.polarity_of(image, "dark-on-light") == L.detect_polarity(image)
    with pytest.raises(ConfigError, match="polarity"):
        AugmentConfig(polarity="black")


def test_transparent_paper_stays_transparent() -> None:
    grey = _source()
    rgba = np.zeros((SIZE, SIZE, 4), np.uint8)
    rgba[..., 3] = 255 - grey  # black ink whose alpha is its coverage, on nothing
    out, _ = _copy(rgba, _zoom_out(T.StrokePreserve(), T.Placement(size=(0.5, 0.5))), True)
    assert out[0, 0, 3] == 0 and out[..., 3].max() == 255
    assert (out[..., :3][out[..., 3] > 0] < 40).all()


IDENTITY: dict[str, B.Params] = {"stroke_preserve": B.Applied(), "stroke_width": LA.Factor(1.0),
                                           "wobble": LA.WobbleField(0.0, 0.5, (0.0, 1.0, 2.0, 3.0)),
            "ink_paper": LA.Levels(0.0, 0.0)}


@pytest.mark.parametrize("name", sorted(IDENTITY))
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_identity_parameters_give_back_the_input(name: str, mode: str) -> None:
    image, has_alpha = _as(mode, _source())
    config = AugmentConfig(transforms=(T.CATALOGUE[name](),))
    params = AugmentParams(extra=((name, IDENTITY[name]),))
    assert np.array_equal(apply_params(image, params, config, has_alpha), image)


def test_each_drawn_value_changes_the_picture() -> None:
    image, _ = _as("L", _source())
    changes: dict[str, B.Params] = {"stroke_width": LA.Factor(1.6),
                        "wobble": LA.WobbleField(0.03, 0.5, (0.0, 1.0, 2.0, 3.0)),
                        "ink_paper": LA.Levels(0.4, 0.1),
                        "placement": LA.Place(0.5, 0.0, 1.0)}
    for name, drawn in changes.items():
        config = AugmentConfig(transforms=(T.CATALOGUE[name](),))
        out = apply_params(image, AugmentParams(extra=((name, drawn),)), config, False)
        assert not np.array_equal(out, image), name
    placed = apply_params(image, AugmentParams(extra=(("placement", LA.Place(0.5, 0.0, 1.0)),)),
                          AugmentConfig(transforms=(T.Placement(),)), False)
    left, top, right, bottom = L.ink_bbox(placed, L.detect_polarity(image)) or (0, 0, 0, 0)
    assert left <= 1 and bottom >= SIZE - 1 and max(right - left, bottom - top) <= 0.5 * SIZE + 2


def test_a_centred_placement_centres_the_drawing_at_its_own_size() -> None:
    image, _ = _as("L", _source())
    config = AugmentConfig(transforms=(T.Placement(size=(0.3, 0.3), centred_p=1.0,
                                                   centred_size=(0.8, 0.8)),))
    for copy in range(4):
        out, params = _copy(image, config, False, copy)
        assert params.get("placement") == LA.Place(0.8, 0.5, 0.5)
        left, top, right, bottom = L.ink_bbox(out, L.detect_polarity(image)) or (0, 0, 0, 0)
        assert abs((left + right) / 2 - SIZE / 2) <= 1 and abs((top + bottom) / 2 - SIZE / 2) <= 1
        assert abs(max(right - left, bottom - top) - 0.8 * SIZE) <= WIDTH + 2


def test_a_centred_share_draws_both_kinds_and_zero_keeps_the_streams() -> None:
    half = AugmentConfig(transforms=(T.Placement(size=(0.3, 0.5), centred_p=0.5,
                                                 centred_size=(0.8, 0.9)),))
    key = source_key("c/a.png")
    places = [sample_params(half, lambda name, copy=copy: rng_for(0, key, copy, name),
                            (8, 8)).get("placement") for copy in range(200)]
    centred = [p for p in places if isinstance(p, LA.Place) and (p.u, p.v) == (0.5, 0.5)]
    assert 70 <= len(centred) <= 130
    assert all(0.8 <= p.size <= 0.9 for p in centred)
    assert all(isinstance(p, LA.Place) and 0.3 <= p.size <= 0.5 for p in places
               if p not in centred)
    # With centred_p = 0 (the default) nothing is drawn for the choice: the draws are those
    # placement made before it had one (size, then u, v), so older configs keep their bytes.
    plain = AugmentConfig(transforms=(T.Placement(size=(0.3, 0.5)),))
    for copy in range(20):
        drawn = sample_params(plain, lambda name, copy=copy: rng_for(0, key, copy, name), (8, 8))
        rng = rng_for(0, key, copy, "placement")
        assert drawn.get("placement") == LA.Place(float(rng.uniform(0.3, 0.5)),
                                                  float(rng.uniform()), float(rng.uniform()))


def test_centred_settings_are_recorded_only_when_set() -> None:
    """A config written before placement had them records the same settings (run.json), so a
    DIR it made still resumes; set ones are recorded and read back."""
    plain = AugmentConfig(transforms=({"name": "placement", "size": [0.3, 0.5]},))
    assert plain.to_dict()["transforms"] == [{"name": "placement", "p": 1.0, "size": [0.3, 0.5]}]
    centred = AugmentConfig(transforms=({"name": "placement", "centred_p": 0.5,
                                         "centred_size": [0.8, 0.9]},))
    recorded = centred.to_dict()
    assert recorded["transforms"][0]["centred_p"] == 0.5
    assert recorded["transforms"][0]["centred_size"] == [0.8, 0.9]
    assert AugmentConfig(**recorded) == centred


@pytest.mark.parametrize("setting", [{"centred_p": 1.5}, {"centred_size": [0.0, 0.5]},
                                     {"centred_size": [0.9, 0.5]}])
def test_a_placement_with_a_bad_centred_setting_is_refused(setting: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=f"placement.{next(iter(setting))}"):
        AugmentConfig(transforms=({"name": "placement", **setting},))


def test_ink_paper_moves_the_levels_by_fractions_of_the_contrast() -> None:
    image, _ = _as("L", _source())
    config = AugmentConfig(transforms=(T.InkPaper(),))
    out = apply_params(image, AugmentParams(extra=(("ink_paper", LA.Levels(0.4, 0.2)),)),
                       config, False)
    assert out[0, 0, 0] == round(255 - 0.2 * 255)
    assert out.min() == round(0.4 * 255)


def test_the_line_art_preset_draws_within_its_bounds_from_its_own_streams() -> None:
    config = AugmentConfig(**PRESETS["line-art"])
    placement = next(t for t in config.transforms if isinstance(t, T.Placement))
    without = replace(config, transforms=())
    for k in range(300):
        key = source_key(f"c/{k % 7}.png")
        def stream(name: str, key: tuple[int, ...] = key, k: int = k) -> np.random.Generator:
            return rng_for(0, key, k, name)
        draw = sample_params(config, stream, (24, 24))
        keras = sample_params(without, stream, (24, 24))
        assert replace(draw, extra=()) == keras  # the Keras draws are untouched
        assert draw.get("stroke_preserve") == B.Applied()  # p = 1
        place = draw.get("placement")
        assert isinstance(place, LA.Place) and 0 <= place.u <= 1 and 0 <= place.v <= 1
        low, high = placement.centred_size if (place.u, place.v) == (0.5, 0.5) \
            else placement.size
        assert low <= place.size <= high
        wobble = draw.get("wobble")
        if wobble is not None:
            assert isinstance(wobble, LA.WobbleField)
            assert all(0 <= phase <= 2 * np.pi for phase in wobble.phases)


def _dataset(root: Path) -> Path:
    """Two classes of drawn shapes in L, RGB and RGBA, one inverted, and one photo-like image."""
    rng = np.random.default_rng(3)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i, mode in enumerate(("L", "RGB", "RGBA")):
            grey = shapes(48, 2.0, rng)
            if label == "b" and mode == "RGB":
                grey = 255 - grey
            Image.fromarray(grey).convert(mode).save(root / label / f"{mode}{i}.png")
    noise = rng.normal(128, 40, (48, 48, 3)).clip(0, 255).astype(np.uint8)
    Image.fromarray(noise).save(root / "a" / "photo.png")
    return root


def test_a_run_skips_what_is_not_line_art_and_replays_the_rest(tmp_path: Path) -> None:
    src = _dataset(tmp_path / "src")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "expand", str(src), "--out", str(out),
                           "--preset", "line-art", "--copies", "3", "--workers", "2"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "a/photo.png" in line]
    assert lines and "not line art" in lines[0], done.stdout + done.stderr
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [s["source"] for s in run["skipped"]] == ["a/photo.png"]
    assert "not line art" in run["skipped"][0]["reason"]
    rows = list(read_manifest(out))
    assert len(rows) == 6 * 3
    assert {row["mode"] for row in rows} == {"L", "RGB", "RGBA"}
    listed = {t["name"] for t in PRESETS["line-art"]["transforms"]}
    assert all(listed <= set(row["params"]) for row in rows)
    results = list(replay(load_run(out), None))
    assert all(r.ok for r in results), [r.explain() for r in results if not r.ok][:3]


def test_non_line_art_is_refused_through_the_pipeline() -> None:
    noise = np.random.default_rng(0).normal(128, 40, (48, 48, 3)).clip(0, 255).astype(np.uint8)
    with pytest.raises(NotLineArtError, match="not line art"):
        _copy(noise, _zoom_out(T.StrokePreserve()), False)


def test_a_run_without_line_art_transforms_is_unchanged(samples_train: Path,
                                                        tmp_path: Path) -> None:
    """The golden test pins the bytes; here: listing none traces nothing."""
    config = ExpandConfig(src=samples_train, out=tmp_path / "o", copies=1,
                          augment=AugmentConfig(**PRESETS["shapes-tutorial"]))
    assert not config.augment.line_art()
    assert "polarity" not in json.dumps(config.determining())
    expand_dataset(config)

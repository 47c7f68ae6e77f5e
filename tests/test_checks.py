"""Per-output checks (issue 23): a copy that fails one is drawn again from child streams, the
attempt is recorded (schema 3), and replay, resume and any worker count give the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from expand.io import codec
from expand.augment.checks import Checks, enclosed_paper
from expand.config import AugmentConfig, ExpandConfig, load_config_file, resolve_config
from expand.errors import ConfigError
from expand.augment.lineart import coverage, trace
from expand.run.manifest import CHECK_KEYS, ROW_KEYS, read_manifest
from expand.tools.replay import load_run, replay
from expand.run.runner import expand_dataset
from expand.run.worker import draw_copy
from tests.conftest import snapshot
from tests.test_pen import holes, triangle

#: The fault the checks catch: the source's 3 px strokes kept at a third of the frame close
#: the triangle's hole in many copies.
SMALL = {"rotation_range": 180, "transforms": [
    {"name": "stroke_preserve"}, {"name": "placement", "size": [0.3, 0.4]}]}


def _sources(root: Path) -> Path:
    (root / "triangle").mkdir(parents=True)
    for i, width in enumerate((2.5, 3.0)):
        Image.fromarray(triangle(width)[..., 0]).save(root / "triangle" / f"t{i}.png")
    return root


def _run(src: Path, out: Path, checks: dict[str, Any] | None, copies: int = 8,
         workers: int = 1, **settings: Any) -> list[dict[str, Any]]:
    augment = AugmentConfig(**{**SMALL, **settings}, checks=checks)
    expand_dataset(ExpandConfig(src=src, out=out, copies=copies, seed=3, workers=workers,
                                augment=augment, include_originals=True))
    return list(read_manifest(out))


TOPOLOGY = {"topology": True, "max_attempts": 8}


def test_a_copy_that_fails_a_check_is_drawn_again(tmp_path: Path) -> None:
    src = _sources(tmp_path / "src")
    rows = _run(src, tmp_path / "out", TOPOLOGY)
    copies = [r for r in rows if r["copy"] is not None]
    redrawn = [r for r in copies if r["attempt"] > 0]
    assert redrawn, "the settings should make some first drafts fill their hole"
    augment = AugmentConfig(**SMALL, checks=TOPOLOGY)
    for row in redrawn:
        data = (src / row["source"]).read_bytes()
        decoded = codec.decode(data, row["source"])
        first, _ = draw_copy(decoded, augment, 3, row["source"], row["copy"])
        assert holes(first) == 0  # attempt 0 really failed
        assert len(row["rejected"]) == row["attempt"]
        assert all(r == ["holes"] for r in row["rejected"])
    for row in copies:
        assert row["checks"]["holes"] == 1 and row["failed"] == []
        assert holes(np.asarray(Image.open(tmp_path / "out" / row["file_name"]))[..., None]) == 1
    originals = [r for r in rows if r["copy"] is None]
    assert all(r[k] is None for r in originals for k in CHECK_KEYS)
    assert all(list(r) == [*ROW_KEYS, *CHECK_KEYS] for r in rows)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["manifest_schema"] == 3
    assert run["config"]["augment"]["checks"] == TOPOLOGY


def test_without_checks_rows_keep_schema_2(tmp_path: Path) -> None:
    rows = _run(_sources(tmp_path / "src"), tmp_path / "out", None, copies=2)
    assert all(list(r) == list(ROW_KEYS) for r in rows)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["manifest_schema"] == 2 and "checks" not in run["config"]["augment"]


def test_attempts_are_the_same_for_one_and_two_workers_and_on_resume(tmp_path: Path) -> None:
    src = _sources(tmp_path / "src")
    _run(src, tmp_path / "one", TOPOLOGY)
    _run(src, tmp_path / "two", TOPOLOGY, workers=2)
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")
    # Resume: a run asked for fewer copies, then for all, and one redrawn output lost.
    _run(src, tmp_path / "resumed", TOPOLOGY, copies=3)
    rows = _run(src, tmp_path / "resumed", TOPOLOGY)
    lost = next(r for r in rows if r["attempt"])
    (tmp_path / "resumed" / lost["file_name"]).unlink()
    _run(src, tmp_path / "resumed", TOPOLOGY)
    assert snapshot(tmp_path / "resumed") == snapshot(tmp_path / "one")


def test_replay_of_a_redrawn_copy_matches_its_hash(tmp_path: Path) -> None:
    src = _sources(tmp_path / "src")
    rows = _run(src, tmp_path / "out", TOPOLOGY)
    redrawn = [r["file_name"] for r in rows if r["copy"] is not None and r["attempt"] > 0]
    results = list(replay(load_run(tmp_path / "out"), redrawn))
    assert results and all(r.ok for r in results), [r.explain() for r in results if not r.ok]


def test_when_every_attempt_fails_the_last_is_kept_flagged_and_counted(tmp_path: Path) -> None:
    src = _sources(tmp_path / "src")
    checks = {"min_extent_px": 1000, "max_attempts": 2}
    augment = AugmentConfig(**SMALL, checks=checks)
    summary = expand_dataset(ExpandConfig(src=src, out=tmp_path / "out", copies=3, seed=3,
                                          augment=augment))
    rows = list(read_manifest(tmp_path / "out"))
    assert {(r["attempt"], tuple(r["failed"])) for r in rows} == {(1, ("extent",))}
    assert all(r["rejected"] == [["extent"]] for r in rows)
    assert summary.kept_failing == 6 and summary.rejected == {"extent": 6}
    assert any("failed their checks in every attempt" in w for w in summary.warnings)
    assert summary.images_written == 6  # nothing skipped: every asked-for copy is in DIR


def test_generic_checks_measure_blank_change_and_frame(tmp_path: Path) -> None:
    """On a photo-like source: a copy shifted off the frame fails in_frame and is drawn again."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "src" / "a" / "x.png")
    checks = {"min_luma_std": 5, "min_change_levels": 1, "min_in_frame_frac": 0.7,
              "max_attempts": 10}
    augment = AugmentConfig(width_shift_range=0.6, fill_mode="constant", checks=checks)
    expand_dataset(ExpandConfig(src=tmp_path / "src", out=tmp_path / "out", copies=12, seed=1,
                                augment=augment))
    rows = list(read_manifest(tmp_path / "out"))
    assert any(r["attempt"] and ["in_frame"] in r["rejected"] for r in rows)
    for row in rows:
        values = row["checks"]
        assert set(values) == {"blank", "changed", "in_frame"}
        assert values["in_frame"] >= 0.7 and values["changed"] >= 1 and values["blank"] >= 5
        shift = abs(row["params"]["tx"]) / 32
        assert values["in_frame"] == pytest.approx(1 - shift, abs=0.07)


def test_enclosed_paper_counts_holes_not_the_outside() -> None:
    assert enclosed_paper(coverage(triangle(), trace(triangle()).polarity)) == 1
    ring = np.zeros((20, 40), np.float32)
    ring[2:9, 2:9] = ring[2:9, 20:27] = 1.0
    ring[4:7, 4:7] = ring[4:7, 22:25] = 0.0
    assert enclosed_paper(ring) == 2


@pytest.mark.parametrize(("table", "message"), [
    ({"max_attempts": 3}, "no check is on"),
    ({"topology": True, "colour": 1}, "unknown key 'colour'"),
    ({"topology": "yes"}, "checks.topology"),
    ({"max_ink_fill_frac": 1.5}, "checks.max_ink_fill_frac"),
    ({"topology": True, "max_attempts": 0}, "checks.max_attempts"),
])
def test_bad_checks_are_refused_with_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AugmentConfig(checks=table)


def test_a_config_file_takes_a_checks_table_from_version_2(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text("version = 2\n[checks]\ntopology = true\nmax_attempts = 3\n")
    assert AugmentConfig(**load_config_file(file)).checks == Checks(3, topology=True)
    file.write_text("[checks]\ntopology = true\n")
    with pytest.raises(ConfigError, match="checks: needs `version = 2`"):
        load_config_file(file)


def test_attempt_k_draws_from_children_keyed_attempt_k() -> None:
    """The documented key (seeding's docstring, docs/output-format.md): a contract, like v1's."""
    from expand.augment.seeding import attempt_streams, source_key, transform_id

    key = source_key("triangle/t0.png")
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        3, spawn_key=(*key, 5, transform_id("rotation"), transform_id("attempt"), 2))))
    assert attempt_streams(3, key, 5, 2)("rotation").random() == expected.random()


def test_a_class_may_turn_the_checks_off_and_the_starter_writes_it_back(tmp_path: Path) -> None:
    from expand.tools.starter import starter_text

    file = tmp_path / "c.toml"
    file.write_text("version = 2\n[checks]\ntopology = true\n[classes.b]\nchecks = {}\n"
                    "[classes.c]\nchecks = {min_extent_px = 5}\n")
    augment = AugmentConfig(**load_config_file(file))
    assert augment.for_class("b").checks is None
    assert augment.for_class("c").checks == Checks(min_extent_px=5)
    assert augment.for_class("a").checks == Checks(topology=True)
    config = ExpandConfig(src=tmp_path, out=tmp_path / "out", augment=augment)
    file.write_text(starter_text(config, "a test"))
    assert resolve_config(tmp_path, tmp_path / "out", cli_run={}, cli_augment={},
                          config_file=file).augment == augment


def test_train_reads_a_schema_3_manifest(tmp_path: Path) -> None:
    from train.data import read_manifest as train_manifest

    rows = _run(_sources(tmp_path / "src"), tmp_path / "out", TOPOLOGY, copies=2)
    read = train_manifest(tmp_path / "out")
    assert read is not None and sorted(r.file_name for r in read) == \
        sorted(r["file_name"] for r in rows)


def test_a_copy_with_lighter_ink_is_measured_against_its_own_ink(tmp_path: Path) -> None:
    """ink_paper moves the ink toward the paper: the line-art checks measure the copy's strokes
    against the copy's ink, so a lightened copy keeps the extent and holes of its drawing (against
    the source's black, half-lightened strokes are under half covered and vanish)."""
    from expand.augment.lineart import repaint, repainted
    source = triangle(2.5)
    polarity = trace(source).polarity
    light = repaint(source, polarity, 0.6, 0.1)
    assert enclosed_paper(coverage(light, polarity)) == 0  # what the checks saw before
    own = coverage(light, repainted(polarity, 0.6, 0.1))
    np.testing.assert_allclose(own, coverage(source, polarity), atol=0.05)  # repaint keeps it
    assert enclosed_paper(own) == enclosed_paper(coverage(source, polarity)) == 1
    src = _sources(tmp_path / "src")
    lighter = [{"name": "ink_paper", "p": 1.0, "ink": [0.6, 0.6], "paper": [0.0, 0.0]}]
    rows = _run(src, tmp_path / "out", {"topology": True, "min_extent_px": 3},
                transforms=[*SMALL["transforms"], {"name": "pen", "width_px": [1.5, 1.5],
                                                   "max_width_frac": 0.25}, *lighter],
                rotation_range=0)
    copies = [row for row in rows if row["copy"] is not None]
    assert all(row["checks"]["holes"] == 1 and row["checks"]["extent"] >= 3 for row in copies)
    assert not any(row["failed"] for row in copies)

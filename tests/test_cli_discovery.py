"""A command line a person can discover: every augmentation option in preview too, short help in
panels, completion without `run`, "did you mean" for typos, and each Keras setting named once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

import expand
from expand import cli
from expand.config import FILL_MODES, KERAS_KEYS, KERAS_PROBABILITIES, PRESETS, AugmentConfig
from expand.errors import ConfigError

FLAGS = [name for name in KERAS_KEYS if AugmentConfig.__dataclass_fields__[name].type == "bool"]
#: A value each option takes and what it means; the others take 0.2 (a flag takes none).
VALUES: dict[str, tuple[str, Any]] = {"fill_mode": ("wrap", "wrap"),
                                      "brightness_range": ("0.8,1.2", [0.8, 1.2])}


def _run(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "expand", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, "COLUMNS": "80", **env})


@pytest.fixture
def src(tmp_path: Path) -> Path:
    for label in ("a", "b"):
        (tmp_path / "src" / label).mkdir(parents=True)
        Image.new("RGB", (16, 12), (40, 90, 200)).save(tmp_path / "src" / label / "0.png")
    return tmp_path / "src"


@pytest.mark.parametrize("command", ["preview", "run"])
@pytest.mark.parametrize("name", KERAS_KEYS)
def test_run_and_preview_take_every_augmentation_option(
        command: str, name: str, src: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What each option hands on is what the config file's key would hold."""
    received: dict[str, Any] = {}

    def resolve(*args: Any, cli_augment: dict[str, Any], **kwargs: Any) -> None:
        received.update(cli_augment)
        raise ConfigError("stop here")

    monkeypatch.setattr(cli, "resolve_config", resolve)
    text, expected = (None, True) if name in FLAGS else VALUES.get(name, ("0.2", 0.2))
    done = CliRunner().invoke(cli.app, [command, str(src), "--out", str(tmp_path / "x.png"),
                                        "--" + name.replace("_", "-"), *([text] if text else [])])
    assert "stop here" in done.output, done.output
    assert received == {name: expected}
    AugmentConfig(**received)  # and it is a valid setting


def test_preview_draws_what_its_options_say(src: Path, tmp_path: Path) -> None:
    done = _run("preview", src, "--out", tmp_path / "p.png", "--rotation_range", "40",
                "--vertical-flip", "--json")
    assert done.returncode == 0, done.stderr
    assert '"rot ' in done.stdout and (tmp_path / "p.png").is_file()


def test_help_is_60_lines_of_panels_with_examples() -> None:
    for args in (["--help"], ["run", "--help"]):
        done = _run(*args)
        assert done.returncode == 0
        lines = done.stdout.splitlines()
        assert len(lines) <= 60, len(lines)
        panels = [line[:-1] for line in lines if re.fullmatch(r"[A-Z][a-z]+:", line)]
        assert panels == ["Arguments", "Augmentation", "Run", "Output", "Cluster"]
        cluster = lines.index("Cluster:")
        assert all(any(o in line for line in lines[cluster:])
                   for o in ("--workers", "--scheduler", "--storage-option"))
        augmentation = lines[lines.index("Augmentation:"):lines.index("Run:")]
        for name in KERAS_KEYS:
            assert any(name.replace("_", "-") in line for line in augmentation), name
        assert "Examples:" in done.stdout and "expand preview" in done.stdout


def _complete(*words: str) -> list[str]:
    """What bash completion offers for the last word of `expand WORDS`."""
    done = _run(_EXPAND_COMPLETE="complete_bash", COMP_WORDS=" ".join(["expand", *words]),
                COMP_CWORD=str(len(words)))
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_works_without_run(src: Path) -> None:
    assert "--preset" in _complete(str(src), "--pre")
    assert "--rotation-range" in _complete(str(src), "--rot")
    assert "--rotation-range" in _complete("preview", str(src), "--rot")


def test_completion_of_presets_formats_and_fill_modes(src: Path) -> None:
    assert _complete(str(src), "--preset", "") == list(PRESETS)
    assert _complete(str(src), "--preset", "li") == ["line-art", "light"]
    assert _complete(str(src), "--format", "") == ["same", "png", "jpeg", "webp"]
    assert _complete(str(src), "--fill-mode", "") == list(FILL_MODES)


def test_a_misspelt_subcommand_gets_a_suggestion(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "expand", "preveiw", "photos/train"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "expand: error: no such folder or subcommand: 'preveiw' (did you mean 'preview'?)"]


def test_a_folder_named_like_a_misspelt_subcommand_is_a_folder(src: Path,
                                                               tmp_path: Path) -> None:
    src.rename(tmp_path / "previews")
    done = subprocess.run([sys.executable, "-m", "expand", "previews", "--out", "o", "-n", "1",
                           "-q"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("toml", "hint"), [
    ("rotaton_range = 10", "did you mean 'rotation_range'?"),
    ("coppies = 2", "did you mean 'copies'?"),
    ("[[transforms]]\nname = 'gausian_blur'", "did you mean 'gaussian_blur'?"),
    ("[[transforms]]\nname = 'gaussian_blur'\nsigam = [1, 2]", "did you mean 'sigma'?"),
])
def test_a_misspelt_config_key_gets_a_suggestion(toml: str, hint: str, src: Path,
                                                 tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"version = 2\n{toml}\n", encoding="utf-8")
    done = _run(src, "--out", tmp_path / "o", "--config", config)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and hint in done.stderr, done.stderr


def test_an_option_out_of_range_is_one_line(src: Path, tmp_path: Path) -> None:
    done = _run(src, "--out", tmp_path / "o", "--copies", "-1")
    assert done.returncode == 2
    assert done.stderr.startswith("expand: error: ") and len(done.stderr.splitlines()) == 1
    assert "--copies" in done.stderr


def test_each_keras_setting_is_named_in_config_py_only() -> None:
    """The settings' names (and their probabilities') are declared once, as AugmentConfig's
    fields: the command line, config init, the draws, preview and inspect read the declaration.
    The warp's kernels take fill_mode and cval under Keras's names, and the pipeline hands the
    config's to them, and the targets follow the image's fill mode: those names are allowed there."""
    names = [*KERAS_KEYS, *KERAS_PROBABILITIES]
    allowed = {"functional.py": {"fill_mode", "cval"}, "pipeline.py": {"fill_mode", "cval"},
               "targets.py": {"fill_mode"}}
    package = Path(expand.__file__).parent
    found = {}
    for path in sorted(package.rglob("*.py")):
        if path.name == "config.py":
            continue
        text = path.read_text(encoding="utf-8")
        for name in names:
            if re.search(rf"\b{name}\b", text) and name not in allowed.get(path.name, set()):
                found.setdefault(path.name, []).append(name)
    assert found == {}
    config = (package / "config.py").read_text(encoding="utf-8")
    for name in names:  # declared there as a field
        assert re.search(rf"^    {name}: .* = _(keras|chance)\(", config, re.MULTILINE), name


def test_the_declaration_is_consistent() -> None:
    """Each drawn setting has its probability field; the manifest's keys are AugmentParams's."""
    from dataclasses import fields

    from expand.augment.params import KERAS_PARAM_KEYS, AugmentParams
    from expand.config import KERAS_SETTINGS

    drawn = [s for _, s in KERAS_SETTINGS if s.stream]
    assert [s.p_key for s in drawn] == list(KERAS_PROBABILITIES)
    assert KERAS_PARAM_KEYS == tuple(f.name for f in fields(AugmentParams))[:-1]

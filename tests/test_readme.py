"""Every README code block marked `<!-- runnable -->` runs, in order, in a fresh folder holding a
copy of the samples, and exits 0. Installs, the test command and cluster examples are not marked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- runnable -->\n```(sh|python)\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_runnable_blocks_of_both_kinds() -> None:
    kinds = [kind for kind, _ in _blocks()]
    assert kinds.count("sh") >= 2 and kinds.count("python") >= 2


@pytest.mark.slow
def test_every_runnable_readme_block_exits_0(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for number, (kind, code) in enumerate(_blocks()):
        command = ["bash", "-euo", "pipefail", "-c", code] if kind == "sh" else \
            [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=900)
        assert done.returncode == 0, f"block {number} ({kind}):\n{code}\n{done.stderr[-3000:]}"

"""Every README code block marked `<!-- runnable -->` runs and exits 0, as a reader runs them: the
first from the root of a clone (it moves to a scratch folder), the others in that folder; the
clone is left as it was. Installs, the test command and cluster examples are not marked."""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- runnable -->\n```(sh|python)\n(.*?)```", re.S)
#: What the quick start's `pip install -e .` brings (pyproject's dependencies), by import name.
INSTALLED = {"expand", "PIL", "numpy", "scipy", "cv2", "tqdm", "typer"}


def _blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def _imports(code: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _clone(tmp_path: Path) -> Path:
    """The committed files of this checkout in a fresh repository: what a reader clones."""
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clone"]):
        subprocess.run([*git, *command], cwd=clone, check=True, capture_output=True)
    return clone


def _run(kind: str, code: str, cwd: Path, env: dict[str, str]) -> None:
    command = ["bash", "-euo", "pipefail", "-c", code] if kind == "sh" else \
        [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900, check=False)
    assert done.returncode == 0, f"{kind} block:\n{code}\n{done.stderr[-3000:]}"


def _tour(tmp_path: Path, blocks: list[tuple[str, str]]) -> tuple[Path, Path]:
    """Runs `blocks` (the tour first) from a clone; returns the clone and the scratch folder."""
    clone, scratch_parent = _clone(tmp_path), tmp_path / "tmp"
    scratch_parent.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch_parent),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    (kind, first), *rest = blocks
    _run(kind, first, clone, env)
    made = list(scratch_parent.iterdir())  # the folder the tour's first line made, if any
    scratch = made[0] if len(made) == 1 else clone
    for kind, code in rest:
        _run(kind, code, scratch, env)
    return clone, scratch


def _untouched(clone: Path) -> None:
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the README's blocks left files in the clone:\n{status}"


def test_the_readme_has_runnable_blocks_of_both_kinds() -> None:
    kinds = [kind for kind, _ in _blocks()]
    assert kinds.count("sh") >= 2 and kinds.count("python") >= 2


def test_the_tour_needs_only_what_the_quick_start_installs() -> None:
    tour = _blocks()[0][1]
    snippets = [shlex.split(line.split("#")[0])[2] for line in tour.splitlines()
                if line.startswith("python -c ")]
    assert snippets, "the tour reads the manifest from Python"
    for code in snippets:
        outside = {name for name in _imports(code)
                   if name not in sys.stdlib_module_names and name not in INSTALLED}
        assert not outside, f"{code!r} imports {outside}, which `pip install -e .` does not"


@pytest.mark.slow
def test_the_tour_runs_in_a_scratch_folder_and_leaves_the_clone_as_it_was(
        tmp_path: Path) -> None:
    clone, scratch = _tour(tmp_path, _blocks()[:1])
    _untouched(clone)
    assert {"aug", "aug-idg", "line-art-preview.png", "aug-inspect.png"} <= \
        {p.name for p in scratch.iterdir()}


@pytest.mark.slow
def test_every_runnable_readme_block_exits_0(tmp_path: Path) -> None:
    clone, _ = _tour(tmp_path, _blocks())
    _untouched(clone)


def test_every_runnable_block_of_the_architecture_doc_exits_0(tmp_path: Path) -> None:
    """docs/architecture.md's path of one image runs as written, from the repository's root."""
    blocks = BLOCK.findall((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    assert blocks, "docs/architecture.md has no runnable block"
    for number, (kind, code) in enumerate(blocks):
        command = ["bash", "-euo", "pipefail", "-c", code] if kind == "sh" else \
            [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)
        assert done.returncode == 0, f"block {number} ({kind}):\n{code}\n{done.stderr[-3000:]}"
        assert "bytes" in done.stdout


def test_every_command_block_is_run_or_says_why_not() -> None:
    """A block of commands in README.md or docs/architecture.md is run by the tests above
    (`<!-- runnable -->`) or says why it cannot be (`<!-- not run: reason -->`: an install, a
    cluster)."""
    for doc in (ROOT / "README.md", ROOT / "docs" / "architecture.md"):
        lines = doc.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if re.fullmatch(r"```(sh|python)", line):
                marker = lines[number - 1]
                assert marker == "<!-- runnable -->" or \
                    re.fullmatch(r"<!-- not run: .{10,} -->", marker), \
                    f"{doc.name}:{number + 1}: a block that is neither run nor says why not"

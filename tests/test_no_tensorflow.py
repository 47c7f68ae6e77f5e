"""`expand` never imports TensorFlow, in the main process or in any worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("workers", [1, 2])
def test_an_expansion_imports_no_tensorflow(samples_train: Path, tmp_path: Path,
                                            workers: int) -> None:
    # A decoy `tensorflow` first on the path: any process that imports it leaves a marker file.
    decoy = tmp_path / "decoy" / "tensorflow"
    decoy.mkdir(parents=True)
    markers = tmp_path / "markers"
    markers.mkdir()
    (decoy / "__init__.py").write_text(
        f"import os\nopen(os.path.join({str(markers)!r}, str(os.getpid())), 'w').close()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(decoy.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run(
        [sys.executable, "-c", "from expand.cli import main; main()",
         str(samples_train), "--copies", "2", "--out", str(tmp_path / "out"),
         "--workers", str(workers), "--json"],
        capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert f'"workers": {workers}' in done.stdout
    assert list(markers.iterdir()) == []
    # the decoy works: importing it in the same environment does leave a marker
    subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, check=True)
    assert len(list(markers.iterdir())) == 1

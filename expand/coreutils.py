"""Recognise a call meant for coreutils' `expand` (the tab converter) and hand it over unchanged."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

# -t N, -tN, --tabs N, --tabs=N, -i, --initial, -N and -N,M,... (old-style tab stops), combined -it4
_TABS_VALUE = re.compile(r"^[0-9,/ +]+$")
_SHORT = re.compile(r"^-(?:i+(?:t.*)?|t.+|[0-9][0-9,]*|i*[0-9][0-9,]*)$")


def _is_coreutils_option(arg: str) -> bool:
    return arg in ("-i", "--initial", "-t", "--tabs") or arg.startswith("--tabs=") \
        or bool(_SHORT.match(arg))


def is_coreutils_call(args: list[str], stdin_is_tty: bool) -> bool:
    """True when the arguments read as coreutils' `expand`, not this tool.

    That is: coreutils options only (with their values and file operands), or no option at all and
    only existing regular files or `-`, or no argument at all with a piped standard input.
    """
    if not args:
        return not stdin_is_tty
    operands: list[str] = []
    saw_option = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands += args[i + 1:]
            break
        if arg in ("-t", "--tabs"):
            if i + 1 >= len(args) or not _TABS_VALUE.match(args[i + 1]):
                return False
            saw_option = True
            i += 2
            continue
        if arg != "-" and arg.startswith("-"):
            if not _is_coreutils_option(arg):
                return False
            saw_option = True
        else:
            operands.append(arg)
        i += 1
    if saw_option:
        return True
    return all(op == "-" or (Path(op).is_file() and not Path(op).is_dir()) for op in operands)


def find_system_expand() -> str | None:
    """The next `expand` on PATH that is not this program."""
    own = {Path(sys.argv[0]).resolve()} if sys.argv and sys.argv[0] else set()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which("expand", path=directory or ".")
        if candidate is None:
            continue
        resolved = Path(candidate).resolve()
        if resolved in own or _is_python_script(resolved):
            continue
        return candidate
    return None


def _is_python_script(path: Path) -> bool:
    """A console-script wrapper of this package starts with a Python shebang."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return False
    return head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0] \
        and b"expand" in head


def hand_over(args: list[str]) -> None:
    """Replace this process with coreutils' expand; returns only if there is none."""
    system = find_system_expand()
    if system is None:
        return
    os.execv(system, ["expand", *args])

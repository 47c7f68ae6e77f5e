"""Typed errors; each carries the exit code the CLI turns it into."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

EXIT_OK = 0
EXIT_SKIPPED = 1
EXIT_USAGE = 2
EXIT_FATAL = 3
EXIT_INTERRUPTED = 130


def did_you_mean(word: object, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when `word` is a near miss of one of `known`, else ''."""
    close = get_close_matches(str(word), list(known), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


class ExpandError(Exception):
    """Base of every error this library raises on purpose."""

    exit_code = EXIT_FATAL


class ConfigError(ExpandError):
    """A bad option, config file or preset: found before any work starts."""

    exit_code = EXIT_USAGE


class DatasetLayoutError(ExpandError):
    """SRC or DIR is not usable as given (missing, a file, nested, foreign)."""

    exit_code = EXIT_USAGE


class StateError(ExpandError):
    """DIR's own records (metadata.jsonl, the journal, run.json) are malformed or name a path that
    is not the tool's to touch: refused before anything in DIR is changed."""

    exit_code = EXIT_USAGE


class ImageReadError(ExpandError):
    """One source could not be read or decoded; the run skips it and goes on."""

    exit_code = EXIT_SKIPPED


class AnnotationError(ExpandError):
    """One image's annotation is malformed (a YOLO line, a COCO annotation, a label PNG): the run
    skips that image, as it skips an unreadable one, and goes on. The message names the file and
    the line or annotation id."""

    exit_code = EXIT_SKIPPED


class OutputWriteError(ExpandError):
    """Writing into DIR failed (disk full, permissions): the run stops."""

    exit_code = EXIT_FATAL


class OutputNameError(OutputWriteError):
    """DIR's file system refuses an output's name (too long, or bytes it cannot store): a
    problem of that source's name, so the run skips the source and goes on."""


class LockHeldError(ExpandError):
    """Another run is writing into the same DIR."""

    exit_code = EXIT_FATAL


class InsufficientSpaceError(ExpandError):
    """The estimated output does not fit in the free space of DIR's file system."""

    exit_code = EXIT_FATAL


class StorageError(ExpandError):
    """A bucket or remote folder cannot be used: it does not exist, access is denied, or the
    storage service cannot be reached."""

    exit_code = EXIT_FATAL


class EngineError(ExpandError):
    """The distributed engine cannot be used: the scheduler is unreachable or has no workers."""

    exit_code = EXIT_FATAL


class WorkerLostError(ExpandError):
    """A worker process of the local pool died (killed, out of memory): the run stops, and
    running it again resumes it."""

    exit_code = EXIT_FATAL


class NotLineArtError(ExpandError):
    """A stroke transform was asked of an image that is not line art (a photo, a texture, a
    blank page): that source is skipped, as an unreadable one is."""

    exit_code = EXIT_SKIPPED

"""The Hugging Face dataset card of an output (README.md): its features make `label` a ClassLabel.

`datasets.load_dataset("imagefolder", data_dir=DIR)` types columns from the manifest's JSON alone,
so `label` is a string there; `datasets.load_dataset(DIR)` reads this card's `configs[0].features`
instead, which name the classes (sorted) and type every other column as the manifest holds it.
The manifest is unchanged; the card is written after it, from its rows (docs/output-format.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from expand.errors import OutputWriteError
from expand.io.storage import Store, reason
from expand.run.layout import MANIFEST

CARD = "README.md"

#: A column's type as the manifest's values show it: a scalar's dtype ("null" while only nulls
#: were seen), {"struct": {field: type}} or {"list": type}.
Kind = Any


def _kind(value: Any) -> Kind:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return {"struct": {key: _kind(item) for key, item in value.items()}}
    kind: Kind = "null"
    for item in value:
        kind = _merge(kind, _kind(item))
    return {"list": kind}


def _merge(a: Kind, b: Kind) -> Kind:
    """The type holding both, as Arrow's JSON reader widens: null to anything, int to float."""
    if a == "null" or a == b:
        return b
    if b == "null":
        return a
    if isinstance(a, str) and isinstance(b, str) and {a, b} == {"int64", "float64"}:
        return "float64"
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        if "struct" in a:
            fields = dict(a["struct"])
            for key, kind in b["struct"].items():
                fields[key] = _merge(fields.get(key, "null"), kind)
            return {"struct": fields}
        return {"list": _merge(a["list"], b["list"])}
    return "string"  # never in a manifest this tool writes: each key has one JSON type


def _yaml(kind: Kind) -> Any:
    """`kind` as the card's YAML writes a feature's type (datasets' Features._to_yaml_list)."""
    if isinstance(kind, str):
        return kind
    if "struct" in kind:
        return [_field(name, inner) for name, inner in kind["struct"].items()]
    return {"list": _yaml(kind["list"])}


def _field(name: str, kind: Kind) -> dict[str, Any]:
    if isinstance(kind, str):
        return {"name": name, "dtype": kind}
    if "struct" in kind:
        return {"name": name, "struct": _yaml(kind)}
    return {"name": name, "list": _yaml(kind["list"])}


def card_text(classes: Iterable[str], rows: Iterable[dict[str, Any]]) -> str:
    """The card for an output of these classes whose manifest holds `rows` (in manifest order).

    Its front matter is JSON, which is YAML too: class names need no quoting rules of their own.
    """
    names = set(classes)
    columns: dict[str, Kind] = {}
    for row in rows:
        names.add(row["label"])
        for key, value in row.items():
            if key not in ("file_name", "label"):
                columns[key] = _merge(columns.get(key, "null"), _kind(value))
    ordered = sorted(names)
    features = [{"name": "image", "dtype": "image"},
                {"name": "label",
                 "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(ordered)}}}},
                *(_field(name, kind) for name, kind in columns.items())]
    front = {"configs": [{"config_name": "default",
                          "data_files": [{"split": "train", "path": [MANIFEST, "*/**"]}],
                          "features": features}]}
    return ("---\n" + json.dumps(front, indent=1) + "\n---\n\n"
            "Written by expand with `metadata.jsonl`, which it describes for Hugging Face's "
            "`datasets`: `datasets.load_dataset(\"THIS_FOLDER\", split=\"train\")` gives `label` "
            "as a `ClassLabel` of the sorted class names, with the manifest's other columns.\n")


def _rows(out: Store) -> Iterator[dict[str, Any]]:
    for line in out.lines(MANIFEST):
        if line.strip():
            yield json.loads(line)


def write_card(out: Store, classes: Iterable[str]) -> None:
    """Writes DIR's card from its manifest, just written; one already holding it stays as it was.

    Raises:
        OutputWriteError: the card cannot be written.
    """
    text = card_text(classes, _rows(out))
    try:
        out.ensure(CARD, text.encode("utf-8", "backslashreplace"))
    except OSError as exc:
        raise OutputWriteError(f"{out.display(CARD)}: cannot write ({reason(exc)})") from None

"""discover: SRC/<class>/... layout rules, sorting, junk, non-images, symlinks, layout errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from expand.errors import EXIT_USAGE, DatasetLayoutError
from expand.io.discover import Dataset, SourceImage, discover

IMAGE_NAMES = ("a.png", "b.PNG", "c.jpg", "d.JPEG", "e.jpeg", "f.bmp", "g.Gif", "h.tif", "i.TIFF",
               "j.webp", "k.WebP")
PILLOW_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF",
                 ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


def _image(path: Path, colour: tuple[int, int, int] = (10, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 4), colour).save(path, format=PILLOW_FORMAT[path.suffix.lower()])
    return path


def _file(path: Path, text: str = "not an image\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _rel_paths(dataset: Dataset) -> list[str]:
    return [s.rel_path for s in dataset.sources]


def test_every_common_format_in_any_case_is_a_source(tmp_path: Path) -> None:
    for name in IMAGE_NAMES:
        _image(tmp_path / "shapes" / name)
    dataset = discover(tmp_path)
    assert dataset.classes == ("shapes",)
    assert _rel_paths(dataset) == sorted(f"shapes/{name}" for name in IMAGE_NAMES)
    assert dataset.not_images == () and dataset.empty_classes == ()


def test_sources_carry_path_rel_path_and_label(tmp_path: Path) -> None:
    path = _image(tmp_path / "cat" / "sub" / "deeper" / "a.png")
    (source,) = discover(tmp_path).sources
    assert source == SourceImage(path, "cat/sub/deeper/a.png", "cat")


def test_classes_and_sources_are_sorted(tmp_path: Path) -> None:
    for rel in ("zebra/b.png", "zebra/a.jpg", "ant/sub/z.png", "ant/sub/a.png", "ant/m.png",
                "ant/sub2/a.png", "Moth/x.png", "bee/a b.png", "bee/a/b.png"):
        _image(tmp_path / rel)
    dataset = discover(tmp_path)
    assert dataset.classes == ("Moth", "ant", "bee", "zebra")
    assert _rel_paths(dataset) == ["Moth/x.png", "ant/m.png", "ant/sub/a.png", "ant/sub/z.png",
                                   "ant/sub2/a.png", "bee/a b.png", "bee/a/b.png", "zebra/a.jpg",
                                   "zebra/b.png"]
    assert [s.label for s in dataset.sources] == ["Moth", "ant", "ant", "ant", "ant", "bee",
                                                  "bee", "zebra", "zebra"]


def test_listing_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    names = ["c/q.png", "a/z.png", "b/y/x.png", "a/b.png", "c/a.png"]
    for rel in names:
        _image(tmp_path / "one" / rel)
    for rel in reversed(names):
        _image(tmp_path / "two" / rel)
    one, two = discover(tmp_path / "one"), discover(tmp_path / "two")
    assert one.classes == two.classes == ("a", "b", "c")
    assert _rel_paths(one) == _rel_paths(two)


def test_hidden_files_and_os_junk_are_ignored(tmp_path: Path) -> None:
    _image(tmp_path / "cls" / "keep.png")
    junk = ["__MACOSX/cls/._keep.png", "__MACOSX/other.png", ".hidden_class/a.png", ".DS_Store",
            "Thumbs.db", "cls/.DS_Store", "cls/Thumbs.db", "cls/THUMBS.DB", "cls/desktop.ini",
            "cls/._keep.png", "cls/.hidden.png", "cls/.ipynb_checkpoints/keep-checkpoint.png",
            "cls/__MACOSX/keep.png", "cls/.cache/a.png", "cls/sub/.DS_Store", "cls/sub/Thumbs.db"]
    for rel in junk:
        if rel.endswith(".png"):
            _image(tmp_path / rel)
        else:
            _file(tmp_path / rel)
    dataset = discover(tmp_path)
    assert dataset.classes == ("cls",)
    assert _rel_paths(dataset) == ["cls/keep.png"]
    assert dataset.not_images == ()
    assert dataset.top_level_files == ()
    assert dataset.empty_classes == ()  # cls/sub holds only junk, but cls has keep.png


def test_non_image_files_are_reported_not_listed(tmp_path: Path) -> None:
    _image(tmp_path / "cls" / "a.png")
    for rel in ("cls/notes.txt", "cls/sub/readme.md", "cls/LICENSE", "cls/a.png.bak",
                "other/data.csv"):
        _file(tmp_path / rel)
    dataset = discover(tmp_path)
    assert _rel_paths(dataset) == ["cls/a.png"]
    assert dataset.not_images == ("cls/LICENSE", "cls/a.png.bak", "cls/notes.txt",
                                  "cls/sub/readme.md", "other/data.csv")
    assert dataset.empty_classes == ("other",)


def test_extension_decides_not_content(tmp_path: Path) -> None:
    # Discovery reads no image: a text file named .png is a source, and decoding it fails later.
    _file(tmp_path / "cls" / "x.png", "hello")
    _image(tmp_path / "cls" / "real.png").rename(tmp_path / "cls" / "real.txt")
    dataset = discover(tmp_path)
    assert _rel_paths(dataset) == ["cls/x.png"]
    assert dataset.not_images == ("cls/real.txt",)


def test_top_level_files_and_empty_classes_are_reported(tmp_path: Path) -> None:
    _image(tmp_path / "full" / "a.png")
    _image(tmp_path / "stray.png")
    _file(tmp_path / "README.md")
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_subfolders" / "sub" / "subsub").mkdir(parents=True)
    _file(tmp_path / "only_junk" / ".DS_Store")
    _file(tmp_path / "only_text" / "notes.txt")
    dataset = discover(tmp_path)
    assert dataset.classes == ("empty", "full", "only_junk", "only_subfolders", "only_text")
    assert _rel_paths(dataset) == ["full/a.png"]
    assert dataset.top_level_files == ("README.md", "stray.png")
    assert dataset.empty_classes == ("empty", "only_junk", "only_subfolders", "only_text")
    assert dataset.not_images == ("only_text/notes.txt",)


def test_a_class_whose_images_are_all_in_sub_folders_is_not_empty(tmp_path: Path) -> None:
    _image(tmp_path / "cls" / "2024" / "jan" / "a.jpg")
    dataset = discover(tmp_path)
    assert _rel_paths(dataset) == ["cls/2024/jan/a.jpg"]
    assert dataset.empty_classes == ()


def test_symlinked_sub_folders_are_not_followed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _image(src / "cls" / "real" / "a.png")
    _image(tmp_path / "elsewhere" / "outside.png")
    os.symlink(tmp_path / "elsewhere", src / "cls" / "linked")
    os.symlink(src / "cls", src / "cls" / "real" / "loop")  # a cycle, if it were followed
    dataset = discover(src)
    assert _rel_paths(dataset) == ["cls/real/a.png"]
    assert dataset.not_images == ()


@pytest.mark.parametrize("follow", [False, True])
def test_links_junk_and_nested_folders_with_and_without_following_links(
        tmp_path: Path, follow: bool) -> None:
    """Every kind of entry a class folder can hold, in both link modes: linked files inside SRC
    are sources either way, outside SRC only when following; linked folders are entered only
    when following, a loop once; broken links are rejected; junk is skipped, other files listed."""
    src = tmp_path / "src"
    _image(src / "a" / "x.png")
    _image(src / "a" / "deep" / "er" / "z.JPG")
    _file(src / "a" / "notes.txt")
    _image(src / "a" / ".hidden.png")
    _file(src / "a" / "Thumbs.db")
    _image(src / "a" / "__MACOSX" / "junk.png")
    _image(tmp_path / "elsewhere" / "e.png")
    os.symlink(tmp_path / "elsewhere", src / "a" / "linkdir")
    os.symlink(src / "a", src / "a" / "deep" / "loop")
    os.symlink(src / "a" / "x.png", src / "a" / "inside.png")
    os.symlink(tmp_path / "elsewhere" / "e.png", src / "a" / "outside.png")
    os.symlink(tmp_path / "nowhere.png", src / "a" / "broken.png")
    (src / "b").mkdir()
    dataset = discover(src, follow_symlinks=follow)
    expected = ["a/deep/er/z.JPG", "a/inside.png", "a/x.png"]
    if follow:
        expected = sorted([*expected, "a/linkdir/e.png", "a/outside.png"])
    assert _rel_paths(dataset) == expected
    assert all(s.path == src / s.rel_path and s.label == "a" for s in dataset.sources)
    outside = [] if follow else \
        [("a/outside.png", "symbolic link to outside SRC (not followed; --follow-symlinks "
                           "follows it)")]
    assert list(dataset.rejected) == [("a/broken.png", "broken symbolic link"), *outside]
    assert dataset.not_images == ("a/notes.txt",)
    assert dataset.empty_classes == ("b",)


def test_a_symlinked_class_folder_is_not_followed_but_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _image(src / "cls" / "a.png")
    _image(tmp_path / "elsewhere" / "dog.png")
    os.symlink(tmp_path / "elsewhere", src / "dogs")
    os.symlink(src, src / "again")  # SRC inside itself: would duplicate every source
    dataset = discover(src)
    assert dataset.classes == ("cls",)
    assert _rel_paths(dataset) == ["cls/a.png"]
    assert dataset.linked_classes == ("again", "dogs")  # named as such, not as files
    assert dataset.top_level_files == ()
    followed = discover(src, follow_symlinks=True)
    assert followed.classes == ("again", "cls", "dogs") and followed.linked_classes == ()
    assert "dogs/dog.png" in _rel_paths(followed)


def test_src_given_through_a_symlink_is_walked(tmp_path: Path) -> None:
    _image(tmp_path / "real" / "cls" / "a.png")
    os.symlink(tmp_path / "real", tmp_path / "link")
    dataset = discover(tmp_path / "link")
    assert _rel_paths(dataset) == ["cls/a.png"]
    assert dataset.sources[0].path == tmp_path / "link" / "cls" / "a.png"


def _layout_error(src: Path) -> str:
    with pytest.raises(DatasetLayoutError) as caught:
        discover(src)
    assert caught.value.exit_code == EXIT_USAGE
    message = str(caught.value)
    assert str(src) in message
    assert "\n" not in message
    return message


def test_missing_src_is_a_layout_error(tmp_path: Path) -> None:
    assert "no such folder" in _layout_error(tmp_path / "nope")


def test_src_that_is_a_file_is_a_layout_error(tmp_path: Path) -> None:
    assert "is a file" in _layout_error(_image(tmp_path / "a.png"))


@pytest.mark.parametrize("contents", [
    [],
    ["a.png", "b.jpg"],
    ["__MACOSX/", ".git/", ".DS_Store"],
])
def test_src_without_class_folders_is_a_layout_error(tmp_path: Path, contents: list[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in contents:
        if name.endswith("/"):
            (src / name).mkdir()
        elif name.endswith((".png", ".jpg")):
            _image(src / name)
        else:
            _file(src / name)
    assert "no class folders" in _layout_error(src)


@pytest.mark.parametrize(("rel", "named"), [
    (b"cls/caf\xe9.png", "cls/caf\\xe9.png"),
    (b"cls/caf\xe9/a.png", "cls/caf\\xe9/a.png"),
    (b"caf\xe9/a.png", "caf\\xe9"),
])
def test_a_name_that_is_not_utf8_is_rejected_by_name(tmp_path: Path, rel: bytes,
                                                      named: str) -> None:
    # It could not be written into metadata.jsonl or run.json: skipped, named with \xNN escapes.
    _image(tmp_path / "good" / "a.png")
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + rel))
    if path.suffix == ".png":
        _image(path)
    else:
        _file(path)
    dataset = discover(tmp_path)
    assert [r for r, _ in dataset.rejected] == [named]
    assert "UTF-8" in dataset.rejected[0][1]
    assert [s.rel_path for s in dataset.sources] == ["good/a.png"]

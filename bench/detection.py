"""Detection and segmentation: `expand` (2 workers) against Albumentations + OpenCV (1 process, as
bench.run runs it; --anchor-processes 2 for a per-core comparison) doing the same job on the same synthetic dataset (bench/detection_shapes.py), per layout.

    PYTHONPATH=. python -m bench.detection [--rounds 5] [--layouts yolo,coco,masks,none]
        [--count 60] [--size 320x240] [--copies 10] [--methods expand,albumentations]
    PYTHONPATH=. python -m bench.detection anchor LAYOUT SRC OUT --copies N

The job, for each source image: read it and its labels, draw N copies with rotation, shift,
shear, zoom, a perspective half of the time and a horizontal flip half of the time (constant
fill), map the labels with each copy (boxes clipped and dropped below a visibility of 0.25;
polygons as points, clipped to the frame; RLE and semantic masks warped with nearest
neighbour), write each copy's JPEG (quality 90) and its label file, mask PNG, or its part of
the COCO JSON, which is written once at the end. Both methods read and write the same layout.
A reference row, `none`, does the same with the same images and no labels (`expand --layout
classes`, the anchor without targets): what the labels cost each method.

The anchor (`anchor`) is Albumentations 2 as its docs show targets: one `Compose` with
`bbox_params` and `keypoint_params` (polygon vertices, `remove_invisible=False`), masks as
`mask`/`masks`; OpenCV decode and encode; a forked pool of 2 processes with one OpenCV thread
each (no oversubscription of the 2 cores), sources a few to a message as bench.methods.floor
sends them. Polygons are clipped to the frame by a vectorised Sutherland-Hodgman pass, as
`expand` clips them; an anchor that skipped it would be doing less.

Every run is a fresh process, the methods in rotated order each round, after one warm-up run
of each that is not counted (bench/run.py's method). Times: `work`, from the method's
libraries imported to its last file written (for `expand`, the `elapsed_s` of `--json`), and
`wall`, the whole command. Ratios are taken per round (anchor time / expand time), then the
median over rounds; the spread (min-max) shows the machine's noise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LAYOUTS = ("yolo", "coco", "masks")
#: "none", a reference: the same images without labels (`expand --layout classes`, the anchor
#: without targets), so that the table shows what the labels cost each method
REFERENCE = "none"
METHODS = ("expand", "albumentations")
QUALITY = 90
MIN_VISIBILITY = 0.25

#: The pipeline in `expand`'s terms (a --config file); the anchor's Compose below is its
#: closest Albumentations spelling.
EXPAND_CONFIG: dict[str, Any] = {
    "version": 2,  # a config with `transforms`
    "rotation_range": 15.0,
    "width_shift_range": 0.1,
    "height_shift_range": 0.1,
    "shear_range": 10.0,  # degrees
    "zoom_range": 0.2,  # Keras's zoom z ~ U(0.8, 1.2) per axis: magnification 1/z
    "horizontal_flip": True,
    "fill_mode": "constant",
    "transforms": [{"name": "perspective", "p": 0.5, "distortion": 0.2}],
}


# ---- the anchor: Albumentations + OpenCV, 2 processes ----------------------------------------

def _compose(objects: bool) -> Any:
    """Albumentations' spelling of EXPAND_CONFIG; for semantic masks without the box and
    keypoint processors, which would only cost time there. Zoom: Keras samples the inverse magnification
    per axis in [0.8, 1.2], i.e. magnification 0.83-1.25. Perspective: torchvision's corners,
    each moved inward by up to 0.1 of a side (mean 0.05), against Albumentations' |N(0, s)|
    with s ~ U(0.03, 0.09) (mean 0.048)."""
    import albumentations as A
    import cv2

    return A.Compose([
        A.Affine(rotate=(-15, 15), translate_percent={"x": (-0.1, 0.1), "y": (-0.1, 0.1)},
                 shear={"x": (-10, 10), "y": (0, 0)},
                 scale={"x": (1 / 1.2, 1 / 0.8), "y": (1 / 1.2, 1 / 0.8)}, keep_ratio=False,
                 interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                 border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=1.0),
        A.Perspective(scale=(0.03, 0.09), interpolation=cv2.INTER_LINEAR,
                      mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT,
                      fill=0, fill_mask=0, p=0.5),
        A.HorizontalFlip(p=0.5),
    ], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["box_labels"],
                                min_visibility=MIN_VISIBILITY, clip=True) if objects else None,
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False) if objects else None,
        seed=0)


_TRANSFORM: Any = None  # each pool process's Compose, built once by _init (forked, not shared)


def _init(objects: bool, one_thread: bool = True) -> None:
    import cv2

    global _TRANSFORM
    if one_thread:
        cv2.setNumThreads(1)
    _TRANSFORM = _compose(objects)


def _clip(points: Any, width: int, height: int) -> Any:
    """Sutherland-Hodgman against the frame [0, W] x [0, H], one vectorised pass per side."""
    import numpy as np

    for axis, bound, keep_low in ((0, 0.0, False), (0, float(width), True), (1, 0.0, False),
                                  (1, float(height), True)):
        if len(points) == 0:
            break
        coord = points[:, axis]
        inside = coord <= bound if keep_low else coord >= bound
        if inside.all():
            continue
        nxt = np.roll(points, -1, axis=0)
        nxt_inside = np.roll(inside, -1)
        with np.errstate(divide="ignore", invalid="ignore"):  # parallel edges: never kept
            t = (bound - coord) / (nxt[:, axis] - coord)
            crossing = points + t[:, None] * (nxt - points)
        both = np.stack([points, crossing], axis=1).reshape(-1, 2)
        keep = np.stack([inside, inside != nxt_inside], axis=1).reshape(-1)
        points = both[keep]
    return points


def _area(points: Any) -> float:
    import numpy as np

    if len(points) < 3:
        return 0.0
    x, y = points[:, 0], points[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def _polygons(objects: list[int], owners: list[int], moved: Any, lengths: list[int],
              width: int, height: int) -> list[tuple[int, list[Any]]]:
    """(category, rings clipped to the frame) of each object visible enough, in source order:
    visibility = area inside the frame / area of the mapped rings, as `expand` judges it."""
    import numpy as np

    mapped = [0.0] * len(objects)
    inside = [0.0] * len(objects)
    rings: list[list[Any]] = [[] for _ in objects]
    ends = np.cumsum(lengths)[:-1]
    for owner, points in zip(owners, np.split(np.asarray(moved)[:, :2], ends)):
        mapped[owner] += _area(points)
        ring = _clip(points, width, height)
        area = _area(ring)
        if area > 0:
            rings[owner].append(ring)
            inside[owner] += area
    return [(category, rings[k]) for k, category in enumerate(objects)
            if rings[k] and inside[k] >= MIN_VISIBILITY * mapped[k]]


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def _encode(pixels: Any, extension: str) -> bytes:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, QUALITY] if extension == ".jpg" else []
    ok, data = cv2.imencode(extension, pixels, params)
    if not ok:
        raise OSError("encode failed")
    return bytes(data)


def _read(path: str) -> Any:
    import cv2
    import numpy as np

    with open(path, "rb") as handle:
        return cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_UNCHANGED)


def _objects(layout: str, source: Any, width: int, height: int) -> tuple[list[Any], ...]:
    """(boxes xyxy, box classes, rings (k, 2), ring owners (object index), objects, masks)."""
    import numpy as np

    boxes: list[list[float]] = []
    classes: list[int] = []
    rings: list[Any] = []
    owners: list[int] = []
    objects: list[int] = []
    masks: list[tuple[int, Any]] = []
    if layout == "yolo":
        for line in source.splitlines():
            fields = line.split()
            if not fields:
                continue
            values = np.array(fields[1:], dtype=np.float64)
            if len(values) == 4:
                cx, cy, w, h = values * (width, height, width, height)
                boxes.append([max(0.0, cx - w / 2), max(0.0, cy - h / 2),
                              min(float(width), cx + w / 2), min(float(height), cy + h / 2)])
                classes.append(int(fields[0]))
            else:
                rings.append(values.reshape(-1, 2) * (width, height))
                owners.append(len(objects))
                objects.append(int(fields[0]))
    else:
        from pycocotools import mask as mask_utils

        for annotation in source:
            segmentation = annotation.get("segmentation")
            x, y, w, h = annotation["bbox"]
            if not segmentation:
                boxes.append([x, y, x + w, y + h])
                classes.append(annotation["category_id"])
            elif isinstance(segmentation, list):
                for flat in segmentation:
                    rings.append(np.asarray(flat, dtype=np.float64).reshape(-1, 2))
                    owners.append(len(objects))
                objects.append(annotation["category_id"])
            else:
                if isinstance(segmentation["counts"], list):
                    segmentation = mask_utils.frPyObjects(segmentation, *segmentation["size"])
                masks.append((annotation["category_id"], mask_utils.decode(segmentation)))
    return boxes, classes, rings, owners, objects, masks


Job = tuple[str, str, str, str, str, int, int, Any]


def _source(job: Job) -> list[tuple[str, int, int, list[Any]]]:
    """All copies of one source: images and labels written; COCO entries returned."""
    import numpy as np

    layout, image_path, label_path, out_root, out_stem, copies, seed, coco = job
    pixels = _read(image_path)
    height, width = pixels.shape[:2]
    extension = os.path.splitext(image_path)[1]
    transform = _TRANSFORM
    transform.set_random_seed(seed)
    entries: list[tuple[str, int, int, list[Any]]] = []
    if layout == REFERENCE:
        for copy in range(copies):
            name = f"{out_stem}__aug{copy:04d}"
            _write(os.path.join(out_root, "images", name + extension),
                   _encode(transform(image=pixels)["image"], extension))
        return entries
    if layout == "masks":
        label = _read(label_path)
        for copy in range(copies):
            out = transform(image=pixels, mask=label)
            name = f"{out_stem}__aug{copy:04d}"
            _write(os.path.join(out_root, "images", name + extension),
                   _encode(out["image"], extension))
            _write(os.path.join(out_root, "masks", name + ".png"), _encode(out["mask"], ".png"))
        return entries
    if layout == "yolo":
        with open(label_path, encoding="utf-8") as handle:
            source = handle.read()
    else:
        source = coco
    boxes, classes, rings, owners, objects, masks = _objects(layout, source, width, height)
    points = np.concatenate(rings) if rings else np.zeros((0, 2))
    lengths = [len(r) for r in rings]
    areas = [float(m.sum()) for _, m in masks]
    for copy in range(copies):
        extra = {"masks": [m for _, m in masks]} if masks else {}
        out = transform(image=pixels, bboxes=np.asarray(boxes).reshape(-1, 4), box_labels=classes,
                        keypoints=points, **extra)
        kept_rings = _polygons(objects, owners, out["keypoints"], lengths, width, height)
        name = f"{out_stem}__aug{copy:04d}"
        _write(os.path.join(out_root, "images", name + extension),
               _encode(out["image"], extension))
        if layout == "yolo":
            lines = []
            for box, category in zip(out["bboxes"], out["box_labels"]):
                x0, y0, x1, y1 = box
                lines.append(f"{category} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f}"
                             f" {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
            for category, object_rings in kept_rings:
                for ring in object_rings:
                    normal = ring / (width, height)
                    lines.append(f"{category} " + " ".join(f"{v:.6f}" for v in normal.ravel()))
            _write(os.path.join(out_root, "labels", name + ".txt"),
                   "".join(line + "\n" for line in lines).encode())
            continue
        from pycocotools import mask as mask_utils

        annotations: list[Any] = []
        for box, category in zip(out["bboxes"], out["box_labels"]):
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append({"category_id": int(category), "iscrowd": 0,
                                "bbox": [x0, y0, x1 - x0, y1 - y0],
                                "area": (x1 - x0) * (y1 - y0)})
        for category, object_rings in kept_rings:
            every = np.concatenate(object_rings)
            (x0, y0), (x1, y1) = every.min(axis=0), every.max(axis=0)
            annotations.append({"category_id": int(category), "iscrowd": 0,
                                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                                "area": sum(_area(r) for r in object_rings),
                                "segmentation": [[float(v) for v in r.ravel()]
                                                 for r in object_rings]})
        for (category, _), area, warped in zip(masks, areas, out.get("masks", [])):
            visible = float(warped.sum())  # against the source's area: zoom moves it a little
            if visible == 0 or visible / area < MIN_VISIBILITY:
                continue
            rle = mask_utils.encode(np.asfortranarray(warped.astype(np.uint8)))
            annotations.append({"category_id": int(category), "iscrowd": 0,
                                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                                "area": int(visible),
                                "segmentation": {"size": [int(v) for v in rle["size"]],
                                                 "counts": rle["counts"].decode("ascii")}})
        entries.append((name + extension, width, height, annotations))
    return entries


def anchor(layout: str, src: Path, out: Path, copies: int, processes: int = 2) -> float:
    """Run the anchor on one dataset; returns the time its libraries were imported. With one
    process, OpenCV keeps its default threads, as bench.methods runs Albumentations."""
    import multiprocessing

    import albumentations  # noqa: F401  (imported before the clock starts, as bench.methods)
    import cv2  # noqa: F401
    import numpy  # noqa: F401

    imported = time.perf_counter()
    images = sorted(p for p in (src / "images").rglob("*") if p.is_file())
    coco: dict[str, list[Any]] = {}
    categories: list[Any] = []
    if layout == "coco":
        document = json.loads((src / "annotations.json").read_bytes())
        categories = document["categories"]
        names = {image["id"]: image["file_name"] for image in document["images"]}
        for name in names.values():
            coco[name] = []
        for annotation in document["annotations"]:
            coco[names[annotation["image_id"]]].append(annotation)
    folders = {"yolo": "labels", "masks": "masks", "coco": None, REFERENCE: None}
    jobs: list[Job] = []
    for seed, path in enumerate(images):
        rel = path.relative_to(src / "images")
        label = ""
        if layout == "yolo":
            label = str(src / "labels" / rel.with_suffix(".txt"))
        elif layout == "masks":
            label = str(src / "masks" / rel.with_suffix(".png"))
        for folder in ("images", folders[layout]):
            if folder:
                (out / folder / rel.parent).mkdir(parents=True, exist_ok=True)
        jobs.append((layout, str(path), label, str(out), rel.as_posix(), copies, seed,
                     coco.get(rel.as_posix())))
    entries: list[tuple[str, int, int, list[Any]]] = []
    objects = layout in ("yolo", "coco")
    if processes == 1:  # in this process, as a user's plain loop runs it
        _init(objects, one_thread=False)
        for job in jobs:
            entries.extend(_source(job))
    else:
        chunk = max(1, min(4, len(jobs) // 12))
        with multiprocessing.get_context("fork").Pool(processes, initializer=_init,
                                                     initargs=(objects,)) as pool:
            for found in pool.imap_unordered(_source, jobs, chunk):
                entries.extend(found)
    if layout == "coco":
        listed: list[dict[str, Any]] = []
        written: list[dict[str, Any]] = []
        for image_id, (name, width, height, annotated) in enumerate(sorted(entries), start=1):
            listed.append({"id": image_id, "file_name": name, "width": width, "height": height})
            for entry in annotated:
                written.append({"id": len(written) + 1, "image_id": image_id, **entry})
        _write(str(out / "annotations.json"), json.dumps(
            {"images": listed, "annotations": written, "categories": categories}).encode())
    return imported


# ---- the harness -----------------------------------------------------------------------------

def command(method: str, layout: str, src: Path, out: Path, copies: int, config: Path,
            processes: int) -> list[str]:
    if method == "expand":
        labels = ["--layout", "classes"] if layout == REFERENCE else \
            ["--layout", layout, "--min-visibility", str(MIN_VISIBILITY)]
        return [sys.executable, "-m", "expand", str(src), "--out", str(out), *labels,
                "--workers", "2", "--copies", str(copies), "--config", str(config),
                "--quality", str(QUALITY), "--json"]
    return [sys.executable, "-m", "bench.detection", "anchor", layout, str(src), str(out),
            "--copies", str(copies), "--processes", str(processes)]


def written(layout: str, out: Path) -> dict[str, int]:
    """What a run left in OUT, counted the same way for both methods."""
    images = sum(1 for p in (out / "images").rglob("*") if p.suffix in (".jpg", ".png"))
    counts = {"images": images}
    if layout == "yolo":
        labels = [p for p in (out / "labels").rglob("*.txt")]
        counts["labels"] = len(labels)
        counts["objects"] = sum(len(p.read_text().splitlines()) for p in labels)
    elif layout == REFERENCE:
        counts["labels"] = images  # none to write
    elif layout == "coco":
        document = json.loads((out / "annotations.json").read_text())
        counts["labels"] = len(document["images"])
        counts["objects"] = len(document["annotations"])
    else:
        counts["labels"] = sum(1 for _ in (out / "masks").rglob("*.png"))
    return counts


def run_once(method: str, layout: str, src: Path, out: Path, copies: int, config: Path,
             env: dict[str, str], processes: int) -> dict[str, Any]:
    from bench.run import timed

    expected = copies * sum(1 for p in (src / "images").rglob("*") if p.is_file())
    shutil.rmtree(out, ignore_errors=True)
    stdout, wall, peak, cpu = timed(command(method, layout, src, out, copies, config, processes),
                                    env, f"{method} on {layout}")
    if method == "expand":
        summary = json.loads(stdout)
        work = float(summary["elapsed_s"])
        if summary["workers"] != 2:
            raise RuntimeError(f"expand ran with {summary['workers']} workers")
    else:
        work = float(json.loads(stdout.strip().splitlines()[-1])["work_s"])
    counts = written(layout, out)
    shutil.rmtree(out, ignore_errors=True)
    if counts["images"] != expected or counts["labels"] != expected:
        raise RuntimeError(f"{method} on {layout} wrote {counts['images']} images and "
                           f"{counts['labels']} labels, not {expected} of each")
    return {"work_s": work, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak / 2**20, **counts}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "anchor":
        parser = argparse.ArgumentParser(prog="bench.detection anchor")
        parser.add_argument("layout", choices=(*LAYOUTS, REFERENCE))
        parser.add_argument("src", type=Path)
        parser.add_argument("out", type=Path)
        parser.add_argument("--copies", type=int, required=True)
        parser.add_argument("--processes", type=int, default=2)
        args = parser.parse_args(sys.argv[2:])
        imported = anchor(args.layout, args.src, args.out, args.copies, args.processes)
        print(json.dumps({"import_s": imported - STARTED,
                          "work_s": time.perf_counter() - imported}))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layouts", default=",".join((*LAYOUTS, REFERENCE)),
                        help=f"{REFERENCE!r}: the same images without labels, a reference")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--count", type=int, default=60, help="source images per layout")
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the sources")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--anchor-processes", type=int, default=1,
                        help="the anchor's processes (1: as bench.run runs Albumentations)")
    parser.add_argument("--scratch", type=Path, default=RESULTS / "detection-runs",
                        help="where the methods write (deleted after each run)")
    args = parser.parse_args()
    from bench.detection_shapes import make_dataset
    from expand.annotations import Layout

    layouts, methods = args.layouts.split(","), args.methods.split(",")
    width, height = (int(v) for v in args.size.lower().split("x"))
    data = RESULTS / "detection-data" / f"{args.count}-{width}x{height}"
    RESULTS.mkdir(parents=True, exist_ok=True)  # git-ignored
    config = RESULTS / "detection-config.json"
    config.write_text(json.dumps(EXPAND_CONFIG, indent=1) + "\n")
    sources = {}
    for layout in layouts:
        src = data / layout
        if not src.is_dir():
            part = src.with_name(layout + ".part")
            shutil.rmtree(part, ignore_errors=True)
            make_dataset(part, Layout.YOLO if layout == REFERENCE else Layout(layout), args.count,
                         (width, height), seed=26, image_format="jpeg")
            if layout == REFERENCE:  # the same images (the seed fixes them), no labels
                shutil.rmtree(part / "labels")
                (part / "data.yaml").unlink()
            part.rename(src)
        sources[layout] = src
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    print(f"warm-up (not counted): every method once on {layouts[0]}", file=sys.stderr)
    for method in methods:
        run_once(method, layouts[0], sources[layouts[0]], args.scratch / "warm-up", args.copies,
                 config, env, args.anchor_processes)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        layout: {m: [] for m in methods} for layout in layouts}
    for round_index in range(args.rounds):
        for layout in layouts:
            shift = round_index % len(methods)
            for method in methods[shift:] + methods[:shift]:
                result = run_once(method, layout, sources[layout],
                                  args.scratch / f"{layout}-{method}", args.copies, config, env,
                                  args.anchor_processes)
                runs[layout][method].append(result)
                print(f"round {round_index + 1} {layout:6s} {method:15s} "
                      f"work {result['work_s']:6.2f} s  wall {result['wall_s']:6.2f} s  "
                      f"cpu {result['cpu_s']:6.2f} s  objects {result.get('objects', '-')}",
                      file=sys.stderr)
    shutil.rmtree(args.scratch, ignore_errors=True)
    images = args.count * args.copies
    print(f"\n{args.count} sources {width}x{height} x {args.copies} copies = {images} outputs "
          f"per layout; median of {args.rounds} rounds; load average (5 min) "
          f"{os.getloadavg()[1]:.1f} at end\n")
    print("| layout | method | images/s | (wall) | CPU ms/image | objects written "
          "| expand is x faster (min-max) | (wall) |")
    print("|---|---|---|---|---|---|---|---|")
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs,
                              "ratios": {}}
    for layout in layouts:
        for method in methods:
            rounds = runs[layout][method]
            work = statistics.median(r["work_s"] for r in rounds)
            wall = statistics.median(r["wall_s"] for r in rounds)
            cpu = statistics.median(r["cpu_s"] for r in rounds)
            ratio = ""
            if method != "expand" and "expand" in methods:
                speed = [r["work_s"] / o["work_s"] for o, r in zip(runs[layout]["expand"],
                                                                      rounds)]
                speed_wall = [r["wall_s"] / o["wall_s"] for o, r in zip(runs[layout]["expand"],
                                                                           rounds)]
                report["ratios"][layout] = {"speed": statistics.median(speed),
                                            "speed_wall": statistics.median(speed_wall),
                                            "min": min(speed), "max": max(speed)}
                ratio = (f"{statistics.median(speed):.2f} ({min(speed):.2f}-{max(speed):.2f}) | "
                         f"{statistics.median(speed_wall):.2f}")
            print(f"| {layout} | {method} | {images / work:.0f} | {images / wall:.0f} | "
                  f"{cpu / images * 1000:.2f} | {rounds[-1].get('objects', '-')} | "
                  f"{ratio or ' | '} |")
    (RESULTS / "detection-latest.json").write_text(json.dumps(report, indent=1) + "\n")
    for layout, ratio in report["ratios"].items():
        state = "a reference, no target" if layout == REFERENCE else \
            "met" if ratio["speed"] >= 1.5 else "MISSED"
        processes = "1 process" if args.anchor_processes == 1 else \
            f"{args.anchor_processes} processes"
        print(f"- {layout}: expand (2 workers) vs Albumentations + OpenCV ({processes}) >= 1.5x: "
              f"{ratio['speed']:.2f} ({state})")


if __name__ == "__main__":
    main()

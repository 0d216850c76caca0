"""How well the photos' cleaned copies cover faces, and what it costs, on phone-size photos.

    .venv/bin/python bench/faces.py                 # phone-size photos: 1, 3 and 12 megapixels
    .venv/bin/python bench/faces.py --sizes 12      # only the 12-megapixel ones
    .venv/bin/python bench/faces.py --save DIR      # also write the photos and their truth (JSON) to DIR
    .venv/bin/python bench/faces.py detectors [NAME]  # the small scenes through each detector set

**The labelled set** (built here, seeded, the same bytes on every run): phone-size canvases of 1 MP
(1152×864), 3 MP (2000×1500) and 12 MP (4000×3000), five with faces and one without at each size. Faces
come from the two public-domain face photos scikit-image ships (a pinned test dependency; provenance and
licences in docs/faces-bench.md): Eileen Collins (`skimage.data.astronaut`, NASA, public domain) and the
cameraman (`skimage.data.camera`, CC0, Lav Varshney), cut out as the head alone or head and shoulders,
with a feathered edge. Each canvas gets nine of them, one at each face height of `FACE_HEIGHTS` (a share of
the canvas height: 40 to 1050 pixels tall on 12 MP, never under `MIN_FACE` pixels), mirrored or not,
turned in plane by up to ±15°, and lit differently (darker, brighter, flat, contrasted, noisy dusk), on
backgrounds tiled from scikit-image's CC0 textures and photos (grass, gravel, bricks, coffee, rocket,
Hubble deep field), coloured and shaded; distractors without people (the cat, a coffee cup, a clock, coins,
a rocket) are pasted too. Saved as JPEG (quality 90, like a phone) and cleaned through the real
derivative function, `intake.derivatives.make_derivative`.

**What is printed**, per size:
- *recall*: faces *covered*, i.e. at least `COVERED` (90 %) of the face's pixels (its true outline, brow
  to chin and ear to ear, turned with the face) are inside the solid boxes the copy paints
  (`faces.cover_faces`, padding included). Faces with at least half covered are counted apart (*part*).
- *false covers*: painted boxes that touch no true face, and their share of the photo's pixels; and the
  share of the photo painted outside any face (padding included) — evidence lost.
- *CPU per photo*: process time (every thread) of one cleaned copy (decode, detection, covering, encode)
  in a fresh child process pinned to one core, mean and worst; and of detection alone.
- *memory*: peak resident memory (VmHWM) while making one copy, above the child's resting size (its
  size after importing everything and cleaning a small photo once, as a warm worker would be), worst of
  the size; and the same peak above the child's size before it cleaned anything (a cold worker).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# bench/intake.py and bench/queue.py would shadow the intake package and the standard library's queue
# (which the libraries below import): import from the repository root instead, before anything else.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data as skdata  # noqa: E402

from intake.derivatives import faces  # noqa: E402

SEED = 16
SIZES: dict[str, tuple[int, int]] = {"1": (1152, 864), "3": (2000, 1500), "12": (4000, 3000)}
PHOTOS_WITH_FACES = 5
FACE_HEIGHTS = (0.0133, 0.0187, 0.0267, 0.04, 0.06, 0.09, 0.14, 0.22, 0.35)  # share of the canvas height
MIN_FACE = 20  # pixels: a smaller face is not in the set (no detector here sees one, nor can anyone be told)
COVERED = 0.9
PART = 0.5
JPEG_QUALITY = 90

# Sources: (photo, head crop, face outline inside the crop as x0, y0, x1, y1). The outline is the face
# itself (brow to chin); the crop is what is pasted.
Crop = tuple[int, int, int, int]


@dataclass
class Source:
    name: str
    crop: Crop
    face: Crop  # in the photo's pixels


SOURCES = [
    Source("astronaut head", (150, 40, 295, 200), (176, 66, 270, 185)),
    Source("astronaut shoulders", (100, 10, 345, 300), (176, 66, 270, 185)),
    Source("cameraman head", (148, 58, 280, 222), (180, 95, 258, 198)),
    Source("cameraman shoulders", (110, 50, 330, 300), (180, 95, 258, 198)),
]
LIGHTS = ("as shot", "dark", "bright", "flat", "contrasted", "dusk")
BACKGROUNDS = ("grass", "gravel", "brick", "coffee", "rocket", "hubble_deep_field")
DISTRACTORS = ("chelsea", "coffee", "clock", "coins", "rocket")


@dataclass
class Photo:
    name: str
    width: int
    height: int
    faces: list[list[tuple[float, float]]]  # each face's outline, four corners in the canvas's pixels
    heights: list[int]


def _rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def _photo(name: str) -> np.ndarray:
    return _rgb(getattr(skdata, "camera" if name.startswith("cameraman") else name.split()[0])())


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A texture or photo tiled (mirrored, so no seams) at a random scale, tinted and shaded."""
    tex = _rgb(getattr(skdata, BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))])())
    scale = float(rng.uniform(1.0, 3.0)) * max(width, height) / 4000 * 2
    tex = cv2.resize(tex, (max(8, int(tex.shape[1] * scale)), max(8, int(tex.shape[0] * scale))),
                     interpolation=cv2.INTER_CUBIC)
    tile = np.concatenate([tex, tex[:, ::-1]], axis=1)
    tile = np.concatenate([tile, tile[::-1]], axis=0)
    reps = (height // tile.shape[0] + 1, width // tile.shape[1] + 1, 1)
    canvas = np.tile(tile, reps)[:height, :width].astype(np.float32)
    tint = rng.uniform(0.75, 1.15, 3).astype(np.float32)
    gx = np.linspace(float(rng.uniform(0.6, 1.0)), float(rng.uniform(0.8, 1.2)), width, dtype=np.float32)
    canvas *= tint
    canvas *= gx[None, :, None]
    return np.clip(canvas, 0, 255).astype(np.uint8)


def lit(patch: np.ndarray, light: str, rng: np.random.Generator) -> np.ndarray:
    x = patch.astype(np.float32) / 255
    if light == "dark":
        x = x**2.2 * 0.8
    elif light == "bright":
        x = x**0.55
    elif light == "flat":
        x = 0.5 + (x - x.mean()) * 0.45
    elif light == "contrasted":
        x = 0.5 + (x - x.mean()) * 1.6
    elif light == "dusk":
        x = x**1.6 * 0.6 + rng.normal(0, 0.04, x.shape).astype(np.float32)
        x *= np.array([1.0, 0.85, 0.7], np.float32)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


def cut(source: Source, face_height: int, angle: float, mirror: bool, light: str,
        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pasted patch (RGB), its feathered mask (0-1) and the face's outline (4×2) in patch pixels."""
    x0, y0, x1, y1 = source.crop
    img = _photo(source.name)[y0:y1, x0:x1]
    fx0, fy0, fx1, fy1 = (source.face[0] - x0, source.face[1] - y0, source.face[2] - x0, source.face[3] - y0)
    f = face_height / (fy1 - fy0)
    w, h = max(2, round(img.shape[1] * f)), max(2, round(img.shape[0] * f))
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    corners = np.array([[fx0, fy0], [fx1, fy0], [fx1, fy1], [fx0, fy1]], np.float64) * f
    if mirror:
        img = np.ascontiguousarray(img[:, ::-1])
        corners[:, 0] = w - corners[:, 0]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (int(w * 0.62), int(h * 0.62)), 0, 0, 360, 1.0, -1)
    k = max(3, (min(w, h) // 12) | 1)
    mask = cv2.GaussianBlur(mask, (k, k), 0)
    img = lit(img, light, rng)
    # Turn in plane about the centre, on a canvas large enough to hold the turned patch.
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    img = cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(mask, m, (nw, nh), flags=cv2.INTER_LINEAR)
    corners = np.hstack([corners, np.ones((4, 1))]) @ m.T
    return img, mask, corners


def paste(canvas: np.ndarray, patch: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    h, w = patch.shape[:2]
    region = canvas[y : y + h, x : x + w].astype(np.float32)
    a = mask[..., None]
    canvas[y : y + h, x : x + w] = (patch * a + region * (1 - a)).astype(np.uint8)


def build(size: str, index: int) -> tuple[np.ndarray, Photo]:
    """One canvas of the set (deterministic: seeded by size and index). Index PHOTOS_WITH_FACES has no face."""
    width, height = SIZES[size]
    rng = np.random.default_rng([SEED, int(size), index])
    canvas = background(rng, width, height)
    taken: list[tuple[int, int, int, int]] = []

    def place(w: int, h: int) -> tuple[int, int] | None:
        if w >= width or h >= height:
            return None
        for _ in range(400):
            x, y = int(rng.integers(0, max(1, width - w))), int(rng.integers(0, max(1, height - h)))
            if all(x + w < a or a2 < x or y + h < b or b2 < y for a, b, a2, b2 in taken):
                taken.append((x, y, x + w, y + h))
                return x, y
        return None

    outlines: list[list[tuple[float, float]]] = []
    heights: list[int] = []
    if index < PHOTOS_WITH_FACES:
        # Largest first, so that they find room.
        for k, share in sorted(enumerate(FACE_HEIGHTS), key=lambda t: -t[1]):
            face_height = round(share * height)
            if face_height < MIN_FACE:
                continue
            source = SOURCES[(k + index) % len(SOURCES)]
            angle = float(rng.uniform(-15, 15))
            light = LIGHTS[(k + 2 * index) % len(LIGHTS)]
            mirror = bool(rng.integers(2))
            patch, mask, corners = cut(source, face_height, angle, mirror, light, rng)
            spot = place(patch.shape[1], patch.shape[0])
            if spot is None and "shoulders" in source.name:  # too large for the room left: the head alone
                head = SOURCES[SOURCES.index(source) - 1]
                patch, mask, corners = cut(head, face_height, angle, mirror, light, rng)
                spot = place(patch.shape[1], patch.shape[0])
            if spot is None:
                continue
            paste(canvas, patch, mask, *spot)
            outlines.append([(float(cx + spot[0]), float(cy + spot[1])) for cx, cy in corners])
            heights.append(face_height)
    for name in DISTRACTORS[: 2 + index % 3] if index < PHOTOS_WITH_FACES else DISTRACTORS:
        thing = _rgb(getattr(skdata, name)())
        f = float(rng.uniform(0.15, 0.35)) * height / thing.shape[0]
        thing = cv2.resize(thing, (int(thing.shape[1] * f), int(thing.shape[0] * f)), interpolation=cv2.INTER_AREA)
        spot = place(thing.shape[1], thing.shape[0])
        if spot is not None:
            x, y = spot
            canvas[y : y + thing.shape[0], x : x + thing.shape[1]] = thing
    kind = "no face" if index >= PHOTOS_WITH_FACES else f"{len(outlines)} faces"
    return canvas, Photo(f"{size} MP #{index} ({kind})", width, height, outlines, heights)


# ---------------------------------------------------------------- the child: one photo, one core


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(path: str) -> None:
    """Clean one photo in this fresh process, pinned to one core; print the figures as JSON."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from intake.derivatives import images, make_derivative

    with tempfile.TemporaryDirectory(prefix="faces-bench-") as folder:
        work = Path(folder)
        warm = work / "warm.jpg"
        Image.fromarray(np.asarray(skdata.astronaut())).save(warm, quality=90)
        cold = _status_kb("VmRSS")
        make_derivative(warm, "image/jpeg", work)  # a warm worker: model and cascades read
        resting = _status_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again from here
        started = time.process_time()
        derivative = make_derivative(Path(path), "image/jpeg", work)
        cpu_total = time.process_time() - started
        peak = _status_kb("VmHWM")
        assert derivative is not None
    rgb = images._decode_upright_srgb(Path(path), "image/jpeg", 50_000_000, 16_000_000)
    started = time.process_time()
    boxes = faces.detect_faces(rgb)
    cpu_detect = time.process_time() - started
    print(json.dumps({"cold_kb": cold, "resting_kb": resting, "peak_kb": peak, "cpu_total": cpu_total,
                      "cpu_detect": cpu_detect, "faces_covered": derivative.faces_covered,
                      "boxes": [[b.x0, b.y0, b.x1, b.y1] for b in boxes]}))


# ---------------------------------------------------------------- scoring


@dataclass
class Score:
    faces: int
    covered: int
    part: int
    false: int  # painted boxes touching no face
    false_share: float  # their share of the photo's pixels
    beyond_share: float  # share of the photo painted outside any face, padding included
    missed: list[str]


def score(photo: Photo, boxes: list[faces.Box]) -> Score:
    painted = np.ones((photo.height, photo.width), np.uint8)
    faces.cover_faces(painted, boxes)  # the derivative's own covering: 0 where it paints
    painted = painted == 0
    truth = np.zeros_like(painted)
    covered = part = 0
    missed: list[str] = []
    for outline, height in zip(photo.faces, photo.heights, strict=True):
        face = np.zeros_like(painted, dtype=np.uint8)
        cv2.fillPoly(face, [np.round(np.array(outline)).astype(np.int32)], 1)
        face = face.astype(bool)
        truth |= face
        share = float(painted[face].mean()) if face.any() else 0.0
        covered += share >= COVERED
        part += PART <= share < COVERED
        if share < COVERED:
            missed.append(f"{height} px {share:.0%}")
    false = 0
    false_px = 0
    for b in boxes:
        one = np.ones((photo.height, photo.width), np.uint8)
        faces.cover_faces(one, [b])
        region = one == 0
        if not (region & truth).any():
            false += 1
            false_px += int(region.sum())
    return Score(len(photo.faces), covered, part, false, false_px / painted.size,
                 float((painted & ~truth).sum()) / painted.size, missed)


def phones(sizes: list[str], save: Path | None) -> None:
    print(f"seed {SEED}; covered = at least {COVERED:.0%} of the face's pixels painted; "
          f"padding faces.MARGIN = {faces.MARGIN}; one core per photo")
    print(f"{'size':6s} {'recall':>9s} {'part':>5s} {'false covers':>13s} {'painted beyond faces':>21s} "
          f"{'CPU/photo mean (max)':>21s} {'detection':>10s} {'peak above resting':>19s}")
    folder = tempfile.TemporaryDirectory(prefix="faces-bench-")
    work = Path(folder.name)
    small_missed: list[str] = []
    for size in sizes:
        rows = []
        for index in range(PHOTOS_WITH_FACES + 1):
            canvas, photo = build(size, index)
            path = (save or work) / f"{size}mp-{index}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(canvas).save(path, quality=JPEG_QUALITY)
            del canvas
            if save:
                path.with_suffix(".json").write_text(json.dumps(photo.__dict__))
            out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True,
                                 check=True)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            boxes = [faces.Box(*b) for b in figures["boxes"]]
            rows.append((photo, figures, score(photo, boxes)))
            if not save:
                path.unlink()
        n = sum(s.faces for _, _, s in rows)
        cov = sum(s.covered for _, _, s in rows)
        part = sum(s.part for _, _, s in rows)
        false = sum(s.false for _, _, s in rows)
        false_share = np.mean([s.false_share for _, _, s in rows])
        beyond = np.mean([s.beyond_share for _, _, s in rows])
        cpu = [f["cpu_total"] for _, f, _ in rows]
        det = [f["cpu_detect"] for _, f, _ in rows]
        mem = max((f["peak_kb"] - f["resting_kb"]) / 1024 for _, f, _ in rows)
        rest = max(f["resting_kb"] / 1024 for _, f, _ in rows)
        cold = max((f["peak_kb"] - f["cold_kb"]) / 1024 for _, f, _ in rows)
        print(f"{size + ' MP':6s} {cov:>4d}/{n:<4d} {part:>5d} {false:>4d} ({false_share:6.2%}) {beyond:>20.2%} "
              f"{np.mean(cpu):>9.2f} s ({max(cpu):5.2f} s) {np.mean(det):>8.2f} s "
              f"{mem:>8.0f} MB (resting {rest:.0f}; {cold:.0f} above the cold import)")
        for photo, _, s in rows:
            if s.missed:
                small_missed.append(f"  {photo.name}: not covered {', '.join(s.missed)}")
    folder.cleanup()
    if small_missed:
        print("faces not covered (height, share covered):")
        print("\n".join(small_missed))


# ---------------------------------------------------------------- detectors: the small scenes

Box = tuple[float, float, float, float]
Scene = tuple[str, np.ndarray, list[Box]]


def scaled(img: np.ndarray, boxes: list[Box], f: float) -> tuple[np.ndarray, list[Box]]:
    h, w = img.shape[:2]
    out = cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    return out, [(a * f, b * f, c * f, d * f) for a, b, c, d in boxes]


def tilted(img: np.ndarray, boxes: list[Box], deg: float) -> tuple[np.ndarray, list[Box]]:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    out = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    moved = []
    for x0, y0, x1, y1 in boxes:
        pts = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]]) @ m.T
        moved.append((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()))
    return out, moved


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def scenes() -> list[Scene]:
    astronaut = np.asarray(skdata.astronaut())
    camera = cv2.cvtColor(np.asarray(skdata.camera()), cv2.COLOR_GRAY2RGB)
    out: list[Scene] = []
    for name, img, boxes in [("astronaut", astronaut, [(172, 62, 272, 185)]),
                             ("cameraman", camera, [(180, 95, 258, 198)])]:
        for f in (2.0, 1.0, 0.5, 0.25):
            i, b = scaled(img, boxes, f)
            out.append((f"{name} x{f}", i, b))
            w = i.shape[1]
            out.append((f"{name} x{f} mirrored", np.ascontiguousarray(i[:, ::-1]),
                        [(w - x1, y0, w - x0, y1) for x0, y0, x1, y1 in b]))
            if f >= 0.5:
                for deg in (-25, 25):
                    out.append((f"{name} x{f} tilted {deg}", *tilted(i, b, deg)))
                out.append((f"{name} x{f} dark", (255 * (i / 255.0) ** 2.2).astype(np.uint8), b))
                out.append((f"{name} x{f} jpeg20", jpeg(i, 20), b))
    lfw = np.load(Path(skdata.__file__).parent / "lfw_subset.npy")[:100]
    for size in (48, 96):
        cell = size * 2
        canvas = cv2.cvtColor(cv2.resize(np.asarray(skdata.gravel()), (cell * 10, cell * 10)), cv2.COLOR_GRAY2RGB)
        boxes = []
        for k in range(100):
            r, c = divmod(k, 10)
            face = cv2.resize((lfw[k] * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
            y, x = r * cell + size // 2, c * cell + size // 2
            canvas[y:y + size, x:x + size] = face[..., None]
            boxes.append((x, y, x + size, y + size))
        out.append((f"lfw {size}px", canvas, boxes))
    head = astronaut[40:200, 150:295]
    group = cv2.cvtColor(cv2.resize(np.asarray(skdata.grass()), (1600, 1000)), cv2.COLOR_GRAY2RGB)
    boxes = []
    for x, y, s, mirror in [(50, 100, 0.3, 0), (300, 120, 0.5, 1), (600, 80, 0.8, 0), (900, 300, 1.2, 1),
                            (1300, 500, 0.4, 0), (200, 600, 1.0, 1), (700, 700, 0.25, 0)]:
        h = cv2.resize(head, (int(head.shape[1] * s), int(head.shape[0] * s)))
        group[y:y + h.shape[0], x:x + h.shape[1]] = h[:, ::-1] if mirror else h
        boxes.append((x + 22 * s, y + 22 * s, x + 122 * s, y + 145 * s))
    out.append(("group of 7", group, boxes))
    # People lying down: the astronaut, the cameraman and the group turned a quarter each way.
    for name, img, gts in [s for s in out if s[0] in ("astronaut x1.0", "cameraman x1.0", "group of 7")]:
        h, w = img.shape[:2]
        out.append((f"{name} lying left", np.ascontiguousarray(np.rot90(img, 1)),
                    [(y0, w - x1, y1, w - x0) for x0, y0, x1, y1 in gts]))
        out.append((f"{name} lying right", np.ascontiguousarray(np.rot90(img, 3)),
                    [(h - y1, x0, h - y0, x1) for x0, y0, x1, y1 in gts]))
    return out


def negatives() -> list[tuple[str, np.ndarray]]:
    out = []
    for name in ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "hubble_deep_field", "page", "text",
                 "horse", "coins", "moon", "clock", "logo", "retina"):
        img = np.asarray(getattr(skdata, name)())
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 2:
            img = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_GRAY2RGB)
        out.append((name, np.ascontiguousarray(img[..., :3].astype(np.uint8))))
    return out


def covered_share(gt: Box, found: list[faces.Box]) -> float:
    x0, y0, x1, y1 = gt
    mask = np.zeros((int(y1 - y0) + 1, int(x1 - x0) + 1), bool)
    for b in found:
        g = b.grown(faces.MARGIN)
        mask[max(0, int(g.y0 - y0)):max(0, int(g.y1 - y0)), max(0, int(g.x0 - x0)):max(0, int(g.x1 - x0))] = True
    return float(mask.mean())


def run(name: str, detect: Callable[[np.ndarray], list[faces.Box]], all_scenes: list[Scene],
        negs: list[tuple[str, np.ndarray]]) -> None:
    total = found = covered = 0
    started = time.perf_counter()
    for _, img, gts in all_scenes:
        boxes = detect(img)
        for gt in gts:
            total += 1
            cx, cy = (gt[0] + gt[2]) / 2, (gt[1] + gt[3]) / 2
            found += any(b.x0 <= cx <= b.x1 and b.y0 <= cy <= b.y1 for b in boxes)
            covered += covered_share(gt, boxes) >= 0.9
    false_boxes = sum(len(detect(img)) for _, img in negs)
    print(f"{name:34s} found {found}/{total}  covered {covered}/{total}  "
          f"boxes on {len(negs)} photos without people: {false_boxes}  {time.perf_counter() - started:.0f} s")


def detectors(only: str = "") -> None:
    """The small scenes through each detector set (`only`: the sets whose name contains it)."""
    all_scenes, negs = scenes(), negatives()
    print(f"{len(all_scenes)} scenes, {sum(len(b) for _, _, b in all_scenes)} faces; margin {faces.MARGIN}")
    original = faces._cascades
    sets: list[tuple[str, Callable[[np.ndarray], list[faces.Box]]]] = [
        ("cascades (frontal+profile) alone", lambda img: faces.merge_boxes(faces._cascades(img))),
        ("CenterFace, one pass", lambda img: faces.merge_boxes(faces._centerface(img))),
        ("CenterFace, all passes", faces.detect_faces),
        ("as shipped (all passes + cascades)", faces.detect_faces),
    ]
    for name, detect in sets:
        if only not in name:
            continue
        faces._cascades = original if "cascades" in name else (lambda img: [])  # type: ignore[assignment]
        run(name, detect, all_scenes, negs)
    faces._cascades = original




def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "detectors":
        detectors(sys.argv[2] if len(sys.argv) > 2 else "")
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,3,12", help="megapixel sizes to run, of 1, 3, 12")
    parser.add_argument("--save", type=Path, help="write the photos and their truth (JSON) here")
    args = parser.parse_args()
    phones([s for s in args.sizes.split(",") if s], args.save)


if __name__ == "__main__":
    main()

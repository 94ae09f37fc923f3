"""Body, face and person-mask detection with the models bundled in mediapipe 0.10.21.

Only the solutions whose weights ship inside the wheel are used (pose at model_complexity=1,
face mesh, face detection, selfie segmentation); other settings try to download at run time.
Models are created once per process and guarded by a lock because mediapipe graphs are not
re-entrant.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_LOCK = threading.Lock()

# Pose landmark indices (mediapipe BlazePose topology).
NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 0, 11, 12, 13, 14
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28

# Face mesh indices (478-point topology with refine_landmarks=True).
LIP_UPPER_OUTER, LIP_LOWER_OUTER = 0, 17
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 61, 291
CHIN, FOREHEAD = 152, 10
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263
OUTER_LIPS = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
INNER_LIPS = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]


@dataclass
class PoseLandmarks:
    """33 body points in pixels of the analysed image, with mediapipe's visibility scores."""

    points: np.ndarray  # (33, 2) float32, x then y, pixels
    visibility: np.ndarray  # (33,) float32 in [0, 1]

    def visible(self, index: int, threshold: float = 0.5) -> bool:
        return bool(self.visibility[index] >= threshold)


@dataclass
class FaceLandmarks:
    """478 face-mesh points in pixels of the analysed image."""

    points: np.ndarray  # (478, 2) float32

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the face mesh."""
        x0, y0 = self.points.min(axis=0)
        x1, y1 = self.points.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


def mediapipe():
    """mediapipe, imported without matplotlib.

    `mediapipe.solutions` imports pyplot for drawing helpers this project never calls, and
    that import costs about a second of CPU in every render process (0.17 s of it is the
    matplotlib package itself). Placeholders stand in for what is not imported yet during
    the import and are removed afterwards, so a later `import matplotlib.pyplot` anywhere
    gets the real modules."""
    if "mediapipe" in sys.modules or "matplotlib.pyplot" in sys.modules:
        import mediapipe as mp

        return mp
    stand_ins = [name for name in ("matplotlib", "matplotlib.pyplot") if name not in sys.modules]
    for name in stand_ins:
        sys.modules[name] = types.ModuleType(name)
    try:
        import mediapipe as mp
    finally:
        for name in stand_ins:
            del sys.modules[name]
    return mp


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image, got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


@lru_cache(maxsize=1)
def _pose():
    mp = mediapipe()

    return mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                  enable_segmentation=False)


@lru_cache(maxsize=1)
def _face_mesh():
    mp = mediapipe()

    return mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                           refine_landmarks=True)


@lru_cache(maxsize=1)
def _face_detection():
    mp = mediapipe()

    return mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                     min_detection_confidence=0.5)


@lru_cache(maxsize=1)
def _selfie():
    mp = mediapipe()

    return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)


def detect_pose(image: np.ndarray) -> PoseLandmarks | None:
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    with _LOCK:
        result = _pose().process(rgb)
    if result.pose_landmarks is None:
        return None
    lm = result.pose_landmarks.landmark
    pts = np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float32)
    vis = np.array([p.visibility for p in lm], dtype=np.float32)
    return PoseLandmarks(points=pts, visibility=vis)


def _mesh_points(result, w: int, h: int) -> FaceLandmarks | None:
    if not result.multi_face_landmarks:
        return None
    lm = result.multi_face_landmarks[0].landmark
    return FaceLandmarks(points=np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float32))


def detect_face_mesh(image: np.ndarray) -> FaceLandmarks | None:
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    with _LOCK:
        result = _face_mesh().process(rgb)
    return _mesh_points(result, w, h)


def detect_faces(image: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Face boxes (x0, y0, x1, y1, score) in pixels, best first."""
    rgb = _rgb(image)
    h, w = rgb.shape[:2]
    with _LOCK:
        result = _face_detection().process(rgb)
    boxes = []
    for det in result.detections or []:
        bb = det.location_data.relative_bounding_box
        boxes.append((bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w,
                      (bb.ymin + bb.height) * h, float(det.score[0])))
    return sorted(boxes, key=lambda b: -b[4])


def selfie_mask(image: np.ndarray) -> np.ndarray:
    """Soft person probability, float32 H x W in [0, 1] (low-res model: refine before use)."""
    rgb = _rgb(image)
    with _LOCK:
        result = _selfie().process(rgb)
    return np.clip(result.segmentation_mask.astype(np.float32), 0.0, 1.0)


class FaceTracker:
    """Face mesh in video mode: landmarks are tracked across consecutive frames.

    One tracker per clip; it is not shared between threads.
    """

    def __init__(self) -> None:
        mp = mediapipe()

        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                                     refine_landmarks=True,
                                                     min_tracking_confidence=0.5)

    def process(self, frame: np.ndarray) -> FaceLandmarks | None:
        rgb = _rgb(frame)
        h, w = rgb.shape[:2]
        return _mesh_points(self._mesh.process(rgb), w, h)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

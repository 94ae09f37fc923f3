"""The render stack, imported once in the fork server that segment workers fork from.

Each spawned worker used to import Dagster, the definitions, mediapipe, OpenCV and the QA
models on its own: about 4 s of CPU per worker before any frame was drawn. Imported here,
in the fork server, they are paid for once and shared copy-on-write. Only imports and
model files are loaded; no mediapipe graph or thread exists before a worker forks.
"""

from __future__ import annotations

import dagster._core.storage.sqlite_storage  # noqa: F401  (instance storage, SQLAlchemy)
import skimage.color  # noqa: F401
import skimage.filters  # noqa: F401
import soundfile  # noqa: F401

import vidpipe.analysis.scene  # noqa: F401
import vidpipe.definitions  # noqa: F401  (Dagster and every asset module)
import vidpipe.media.audio  # noqa: F401
import vidpipe.media.images  # noqa: F401
import vidpipe.qa.measure  # noqa: F401
import vidpipe.render.embedded.backend  # noqa: F401
import vidpipe.render.runner  # noqa: F401
import vidpipe.render.takes  # noqa: F401
from vidpipe.render.embedded import (composite, depth, lipsync, matte, motion,  # noqa: F401
                                     tryon, upscale)
from vidpipe.qa.identity import _models
from vidpipe.render.embedded.landmarks import mediapipe

mediapipe()
_models()  # dlib's face models: plain memory, safe to share with forked workers

"""The render stack, imported once in the fork server that segment workers fork from.

Each spawned worker used to import Dagster, the definitions, mediapipe, OpenCV and the QA
models on its own: about 4 s of CPU per worker before any frame was drawn. Imported here,
in the fork server, they are paid for once and shared copy-on-write. Only imports and
model files are loaded; no mediapipe graph or thread exists before a worker forks.
"""

from __future__ import annotations

import vidpipe.definitions  # noqa: F401  (Dagster and every asset module)
import vidpipe.qa.measure  # noqa: F401
import vidpipe.render.embedded.backend  # noqa: F401
import vidpipe.render.runner  # noqa: F401
import vidpipe.render.takes  # noqa: F401
from vidpipe.render.embedded import (composite, lipsync, matte, motion, tryon,  # noqa: F401
                                     upscale)
from vidpipe.qa.identity import _models
from vidpipe.render.embedded.landmarks import mediapipe

mediapipe()
_models()  # dlib's face models: plain memory, safe to share with forked workers

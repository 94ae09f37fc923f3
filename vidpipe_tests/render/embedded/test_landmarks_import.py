"""mediapipe is imported without pulling in matplotlib, and matplotlib still works after."""

import subprocess
import sys

SCRIPT = """
import sys
from vidpipe.render.embedded.landmarks import mediapipe
mp = mediapipe()
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
assert "matplotlib" not in sys.modules, "matplotlib was imported"
assert mp.solutions.face_mesh.FaceMesh is not None
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
assert hasattr(plt, "subplots"), "a placeholder pyplot was left behind"
assert matplotlib.get_backend().lower() == "agg", "a placeholder matplotlib was left behind"
print("ok")
"""


def test_mediapipe_import_skips_matplotlib_and_leaves_it_importable():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")

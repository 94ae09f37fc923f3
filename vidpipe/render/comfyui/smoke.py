"""`vidpipe comfy smoke`: run one tiny core-nodes-only graph on a server, end to end.

Upload a small test image (content-hash name, so a second smoke uploads nothing), queue
LoadImage -> ImageScale (lanczos) -> SaveImage with a websocket client id, follow it to the
end, download the PNG through /history + /view and check its size and colours. It needs no
model file and no custom node, so it tells whether the server, its websocket, its input and
output folders and our client work together before anything big is queued.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vidpipe.render.comfyui.client import ComfyClient, ProgressCallback
from vidpipe.render.comfyui.errors import ComfyError

SOURCE_SIZE = (64, 48)


def test_image() -> np.ndarray:
    """64x48: left half red, right half blue (easy to check after any resize)."""
    img = np.zeros((SOURCE_SIZE[1], SOURCE_SIZE[0], 3), np.uint8)
    img[:, : SOURCE_SIZE[0] // 2] = (220, 30, 30)
    img[:, SOURCE_SIZE[0] // 2:] = (30, 30, 220)
    return img


def smoke_graph(image: str, size: tuple[int, int], prefix: str) -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image},
              "_meta": {"title": "Smoke Image"}},
        "2": {"class_type": "ImageScale", "_meta": {"title": "Smoke Size"},
              "inputs": {"image": ["1", 0], "upscale_method": "lanczos", "width": size[0],
                         "height": size[1], "crop": "disabled"}},
        "3": {"class_type": "SaveImage", "_meta": {"title": "Smoke Output"},
              "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


@dataclass
class SmokeResult:
    url: str
    ok: bool
    version: str = "?"
    size: tuple[int, int] = (0, 0)
    got_size: tuple[int, int] | None = None
    uploaded: str = ""
    prompt_id: str = ""
    seconds: float = 0.0
    watched: str = ""
    output: str = ""
    problem: str = ""
    steps: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"ComfyUI smoke test on {self.url} ({self.version})"]
        lines += [f"  {s}" for s in self.steps]
        lines.append("OK: upload, queue, websocket, history and download all work."
                     if self.ok else f"FAILED: {self.problem}")
        return "\n".join(lines)


def smoke(url: str, *, size: tuple[int, int] | None = None, time_limit_s: float = 120.0,
          keep: Path | None = None, client: ComfyClient | None = None,
          on_progress: ProgressCallback | None = None) -> SmokeResult:
    """Run the smoke graph on `url`; never raises for a server problem (see `problem`).

    `size` defaults to a width of 40..71 chosen per run, so ImageScale and SaveImage really
    run each time (ComfyUI would serve an identical graph from its cache)."""
    client = client or ComfyClient(url, retries=1)
    if size is None:
        size = (40 + uuid.uuid4().int % 32, 30)
    res = SmokeResult(url=client.url, ok=False, size=size)
    step = res.steps.append
    try:
        stats = client.system_stats().get("system", {})
        res.version = f"ComfyUI {stats.get('comfyui_version', '?')}"
        step(f"server: {res.version}, python {str(stats.get('python_version', '?')).split()[0]}, "
             f"torch {stats.get('pytorch_version', '?')}")
        with tempfile.TemporaryDirectory(prefix="vidpipe-smoke-") as tmp:
            src = Path(tmp) / "smoke.png"
            Image.fromarray(test_image()).save(src)
            sent = []
            started = time.monotonic()
            res.uploaded = client.upload(src, on_send=sent.append)
            step(f"upload: {res.uploaded} ("
                 f"{'sent' if sent else 'already on the server, nothing sent'})")
            prefix = f"vidpipe/smoke/{uuid.uuid4().hex[:12]}"
            result = client.run(smoke_graph(res.uploaded, size, prefix), workflow="smoke",
                                time_limit_s=time_limit_s, on_progress=on_progress)
            res.prompt_id, res.watched = result.prompt_id, result.watched
            cached = f", cached: {', '.join(result.cached_nodes)}" if result.cached_nodes else ""
            step(f"queued and finished: prompt {result.prompt_id} in {result.seconds:.2f} s "
                 f"(followed by {result.watched}{cached})")
            outs = result.files_for("Smoke Output")
            if not outs:
                res.problem = "the SaveImage node listed no file in /history"
                return res
            ref = outs[0].ref
            dest = Path(keep or tmp) / ref.filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            client.download(ref, dest)
            res.output = f"{ref.subfolder}/{ref.filename} ({ref.type})"
            with Image.open(dest) as im:
                arr = np.asarray(im.convert("RGB"))
            res.got_size = (arr.shape[1], arr.shape[0])
            res.seconds = time.monotonic() - started
            step(f"download: {res.output}, {dest.stat().st_size} bytes, "
                 f"{res.got_size[0]}x{res.got_size[1]}" + (f", kept in {dest}" if keep else ""))
    except ComfyError as exc:
        res.problem = str(exc)
        return res
    if res.got_size != size:
        res.problem = f"the output is {res.got_size[0]}x{res.got_size[1]}, asked for " \
                      f"{size[0]}x{size[1]}"
        return res
    w = size[0]
    left, right = arr[:, : w // 3].mean(axis=(0, 1)), arr[:, w - w // 3:].mean(axis=(0, 1))
    if not (left[0] > 150 > left[2] and right[2] > 150 > right[0]):
        res.problem = (f"the output's colours are wrong (left {left.round().tolist()}, "
                       f"right {right.round().tolist()}; expected red then blue)")
    else:
        res.ok = True
        step(f"check: {size[0]}x{size[1]} as asked, red left and blue right as sent")
    return res

"""Outputs are renamed into place with the mode a new file gets, not a temp file's 0600."""

import os
import stat

import numpy as np

from vidpipe.cache import produce
from vidpipe.media.audio import write_pcm_wav
from vidpipe.media.video import ClipWriter
from vidpipe.render.base import StageFacts
from vidpipe.storage import write_text_atomic


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_every_kind_of_output_is_readable_as_a_new_file_would_be(tmp_path):
    expected = 0o666 & ~_umask()
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives a new file here
    assert _mode(plain) == expected and expected & stat.S_IRGRP  # readable by the group

    text = tmp_path / "memory.json"
    write_text_atomic(text, "{}")
    wav = write_pcm_wav(np.zeros(800, np.float32), 8000, tmp_path / "speech.wav")
    with ClipWriter(tmp_path / "clip.mp4", (32, 32), 25) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))

    def make(tmp):
        tmp.write_bytes(b"still")
        return StageFacts()

    made = produce(tmp_path / "still.png", "k1", make).path
    assert [_mode(p) for p in (text, wav, tmp_path / "clip.mp4", made)] == [expected] * 4

import pytest

from vidpipe.cache import is_current, produce
from vidpipe.render.base import StageFacts


def test_produce_reuses_output_for_same_key_and_redoes_for_new_key(tmp_path):
    out = tmp_path / "a" / "x.txt"
    calls = []

    def make(tmp):
        calls.append(tmp)
        tmp.write_text(f"run {len(calls)}")
        return StageFacts(info={"n": len(calls)})

    first = produce(out, "k1", make)
    assert not first.cached and out.read_text() == "run 1"
    again = produce(out, "k1", make)
    assert again.cached and again.info == {"n": 1} and len(calls) == 1
    new = produce(out, "k2", make)
    assert not new.cached and out.read_text() == "run 2"
    assert is_current(out, "k2") and not is_current(out, "k1")


def test_failed_stage_leaves_no_file_and_no_stale_key(tmp_path):
    out = tmp_path / "x.bin"

    def boom(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("crashed halfway")

    with pytest.raises(RuntimeError):
        produce(out, "k", boom)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []

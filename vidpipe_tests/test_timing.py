import random

from vidpipe.timing import frame_range, total_frames


def test_segment_frames_tile_the_whole_recording_without_drift():
    rng = random.Random(7)
    for sr, fps in [(16000, 25), (48000, 24), (44100, 30), (16000, 29)]:
        n = rng.randrange(sr * 60, sr * 600)
        cuts = sorted(rng.sample(range(1, n), 120))
        bounds = [0, *cuts, n]
        ranges = [frame_range(a, b, sr, fps) for a, b in zip(bounds, bounds[1:])]
        assert ranges[0][0] == 0
        assert all(r1[1] == r2[0] for r1, r2 in zip(ranges, ranges[1:]))
        assert ranges[-1][1] == total_frames(n, sr, fps)
        assert abs(total_frames(n, sr, fps) / fps - n / sr) <= 0.5 / fps

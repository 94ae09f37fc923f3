import dagster as dg
import pytest

from vidpipe.partitions import multi_key, segment_index, segment_key, slug_problem, split_key


@pytest.mark.parametrize("name", ["demo", "a", "proj_1", "x-2", "a" * 64])
def test_good_slugs(name):
    assert slug_problem(name) is None


@pytest.mark.parametrize("name", ["", "Demo", "-x", "a|b", "a,b", "a[b]", "a/b", "a b", "a...b",
                                  "é", "a" * 65])
def test_bad_slugs_say_why(name):
    assert "not a safe slug" in slug_problem(name)


def test_segment_keys_round_trip_and_sort():
    keys = [segment_key(i) for i in (0, 7, 10, 123)]
    assert keys == ["s0000", "s0007", "s0010", "s0123"] == sorted(keys)
    assert [segment_index(k) for k in keys] == [0, 7, 10, 123]
    with pytest.raises(ValueError):
        segment_index("7")


def test_multi_key_orders_project_first():
    key = multi_key("demo", "s0007")
    assert str(key) == "demo|s0007"
    assert split_key(key) == ("demo", "s0007") == split_key("demo|s0007")
    assert isinstance(key, dg.MultiPartitionKey)

"""Partition definitions and keys, in one place.

Projects and segments are two dynamic dimensions. Dagster sorts dimension names and joins
them with `|`, so a segment partition key reads `demo|s0007`. Dagster does not check
dynamic keys itself, so every key is built and validated here.
"""

from __future__ import annotations

import re
import warnings

import dagster as dg

PROJECT_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SEGMENT_KEY = re.compile(r"^s\d{4}$")

project_partitions = dg.DynamicPartitionsDefinition(name="project")
segment_partitions = dg.DynamicPartitionsDefinition(name="segment")
segment_in_project = dg.MultiPartitionsDefinition(
    {"project": project_partitions, "segment": segment_partitions}
)

# Segment-level assets read project-level ones (and the reverse) through the project dimension.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the mapping is marked beta; we rely only on its documented use
    BY_PROJECT = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="project")


def is_valid_slug(name: str) -> bool:
    return bool(PROJECT_SLUG.match(name))


def slug_problem(name: str) -> str | None:
    """Why `name` cannot be a project name, or None when it can."""
    if is_valid_slug(name):
        return None
    return (f"project name {name!r} is not a safe slug: use 1-64 characters, lower-case letters, "
            "digits, '-' or '_', starting with a letter or digit")


def segment_key(index: int) -> str:
    if not 0 <= index <= 9999:
        raise ValueError(f"segment index out of range: {index}")
    return f"s{index:04d}"


def segment_index(key: str) -> int:
    if not SEGMENT_KEY.match(key):
        raise ValueError(f"not a segment key: {key!r}")
    return int(key[1:])


def multi_key(project: str, segment: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"project": project, "segment": segment})


def split_key(partition_key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(project, segment) of a segment partition key."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        dims = partition_key.keys_by_dimension
        return dims["project"], dims["segment"]
    project, segment = str(partition_key).split("|")
    return project, segment

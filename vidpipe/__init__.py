"""vidpipe: four inputs (person, garment, scene, speech) to a lip-synced video, with Dagster as the spine."""

__version__ = "0.1.0"

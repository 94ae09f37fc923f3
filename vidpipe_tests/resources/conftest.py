"""The Gemini stand-in fixture, shared with the brain's tests."""

from vidpipe_tests.brain.conftest import standin  # noqa: F401 - a pytest fixture

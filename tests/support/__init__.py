"""Test helpers that run real servers (RTSP) next to the tests."""

"""Every engines test uses a private cache folder (never the user's ~/.cache/vidlle)."""

import pytest


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("vidlle-cache")


@pytest.fixture(autouse=True)
def private_cache(session_cache, monkeypatch):
    monkeypatch.setenv("VIDLLE_CACHE", str(session_cache))
    return session_cache

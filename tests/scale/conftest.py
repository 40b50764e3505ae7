"""A local Ray instance for the scale tests: small (2 CPUs), no dashboard, shut down at the end.

Tests that need it skip with a reason when Ray is not installed (``pip install -e '.[scale]'``).
"""

from __future__ import annotations

import os

import pytest

try:
    import ray
except ImportError:  # the extra is optional
    ray = None

NO_RAY = "Ray is not installed (pip install -e '.[scale]')"


@pytest.fixture(scope="package")
def ray_local(session_cache):
    """``ray`` after ``ray.init(num_cpus=2)``; workers share the tests' private vidlle cache."""
    if ray is None:
        pytest.skip(NO_RAY)
    cache = str(session_cache)
    before = os.environ.get("VIDLLE_CACHE")
    os.environ["VIDLLE_CACHE"] = cache  # workers inherit the environment Ray started with
    # address="local": a new instance even when a `ray start` cluster is around on this machine.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=True, logging_level="warning")
    try:
        yield ray
    finally:
        ray.shutdown()
        if before is None:
            os.environ.pop("VIDLLE_CACHE", None)
        else:
            os.environ["VIDLLE_CACHE"] = before

"""A real headless browser for the web view's tests and benchmark: Debian's chromium and
chromium-driver, driven through Selenium.

Skips (never fails) where one of the three is missing; ``.ci/run`` installs them on Debian
(chromium, chromium-driver by apt; selenium with the ``test`` extra).
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from contextlib import contextmanager

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


@functools.cache
def browser_unavailable() -> str | None:
    """Why no headless browser can be driven here (a skip reason), or None."""
    try:
        import selenium  # noqa: F401 - only its presence is checked here
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not any(shutil.which(name) for name in CHROMIUM):
        return "chromium is not installed (apt-get install chromium)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def needs_browser(test):
    """Mark a test that drives headless chromium: the ``integration`` tier, skipped with a reason."""
    reason = browser_unavailable()
    return pytest.mark.integration(pytest.mark.skipif(reason is not None, reason=str(reason))(test))


@contextmanager
def chromium(width: int = 1280, height: int = 800):
    """A headless chromium (Selenium WebDriver) with a fresh profile, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = next(shutil.which(n) for n in CHROMIUM if shutil.which(n))
    with tempfile.TemporaryDirectory(prefix="vidlle-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        # Headless as root in a container: no sandbox, no GPU, nothing that calls home.
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()

"""Open report.html in headless Chromium: every chart renders and the headline numbers are on the page.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``make browser``; ``make test`` runs it).
The full-page screenshot is kept as ``test-artifacts/report.png`` (git-ignored).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from churnguard.reports.html import headline_cards
from tests.report.conftest import CURRENCY

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browser() -> Iterator[object]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "headless Chromium is missing: run `make browser` (Debian packages chromium, chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="churnguard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_report_renders_in_chromium(sample_report, browser) -> None:
    browser.get(sample_report.html_path.resolve().as_uri())
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height + 120)  # the whole page in one screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 50_000

    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 6
    for alt, complete, width, img_height in images:
        assert complete and width > 0 and img_height > 0, f"chart {alt!r} did not render"

    text = browser.find_element("tag name", "body").text
    for label, value, _note, _tone in headline_cards(sample_report.headline, CURRENCY):
        assert value in text, f"headline {label!r} = {value!r} not on the page"
        assert value != "–", f"headline {label!r} is empty on the sample data"
    assert "churn rate 10 ÷ 100 × 100 = 10%" in text
    assert "Two churn rates" in text and "The list contacts 150 customers" in text

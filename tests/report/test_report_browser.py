"""Open report.html in headless Chromium: every chart renders, the headline numbers are on the page and
the console shows no error; the same for a report with measured past lists, drift and CLV:CAC.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``make browser``; ``make test`` runs it).
The full-page screenshot is kept as ``test-artifacts/report.png`` (git-ignored).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from churnguard.reports.build import ReportResult
from churnguard.reports.html import headline_cards
from tests.report.conftest import CURRENCY
from tests.report.test_report_outcomes import build_outcomes_report, write_measured

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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, for get_log
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
    assert "Did it work?" in text and "No acquisition costs are configured" in text
    assert_no_console_errors(browser)


def assert_no_console_errors(browser) -> None:
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"


@pytest.fixture
def outcomes_report(sample_dataset, tmp_path: Path) -> ReportResult:
    risk_dir, outcomes_dir = tmp_path / "risk_lists", tmp_path / "outcomes"
    outcomes_dir.mkdir()
    write_measured(sample_dataset, risk_dir, outcomes_dir)
    return build_outcomes_report(sample_dataset, risk_dir, outcomes_dir, tmp_path / "reports")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_outcomes_and_clv_sections_render_in_chromium(outcomes_report, browser) -> None:
    browser.get(outcomes_report.html_path.resolve().as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert "Predicted and realised churn per tier" in [alt for alt, *_ in images]
    for alt, complete, width, img_height in images:
        assert complete and width > 0 and img_height > 0, f"chart {alt!r} did not render"
    section = browser.find_element("id", "outcomes")
    assert section.is_displayed()
    text = section.text
    assert "Outreach against control (randomised)" in text
    assert "Contacted customers against control: not randomised, may be biased" in text
    alert = section.find_element("css selector", ".status.alert")
    assert alert.text == "Alert"
    assert alert.value_of_css_property("background-color") == "rgba(254, 226, 226, 1)"  # the alert colour
    clv = browser.find_element("id", "clv").text
    assert "CLV:CAC" in clv and ":1" in clv and "no CAC configured" in clv
    assert_no_console_errors(browser)

"""Headless Chromium (Debian's chromium + chromedriver, via Selenium) on `tuner dashboard`.

Screenshots land in artifacts/ (gitignored). Without Chromium the tests skip, unless
REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tests.views.conftest import ARTIFACTS, MockStudy, serve_dashboard, tuner

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
WAIT_S = 60


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Selenium, or a skip (a failure with REQUIRE_BROWSER=1)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        message = f"not installed: {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="views-chromium-")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # Root in CI containers.
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1500",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait_for_text(driver: Any, *texts: str) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d: Any) -> str | bool:
        body = d.find_element("tag name", "body").text
        return body if all(t in body for t in texts) else False

    try:
        return str(WebDriverWait(driver, WAIT_S, poll_frequency=0.25).until(found))
    except Exception:
        _screenshot(driver, "browser-timeout.png")
        body = driver.find_element("tag name", "body").text
        raise AssertionError(f"page never showed {texts}; it shows:\n{body[:2000]}") from None


def _wait_for(driver: Any, script: str, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.25).until(
            lambda d: d.execute_script(script)
        )
    except Exception:
        _screenshot(driver, "browser-timeout.png")
        raise AssertionError(f"the page never rendered {what}") from None


def _screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


# Plotly draws bars as path.point inside the figure's .barlayer, markers inside .scatterlayer.
_IMPORTANCE_BARS = """
const cards = [...document.querySelectorAll('.MuiCard-root')]
  .filter(c => c.innerText.includes('Hyperparameter Importance'));
if (!cards.length) return null;
const bars = cards[0].querySelectorAll('.barlayer path');
const labels = [...cards[0].querySelectorAll('.ytick text')].map(t => t.textContent);
return bars.length ? {bars: bars.length, labels: labels} : null;
"""
_HISTORY_POINTS = """
const cards = [...document.querySelectorAll('.MuiCard-root')]
  .filter(c => c.innerText.includes('History'));
if (!cards.length) return null;
const n = cards[0].querySelectorAll('.scatterlayer .point').length;
return n > 0 ? n : null;
"""


def test_dashboard_renders_study_trials_and_importance(
    browser: Any, throughput_study: MockStudy
) -> None:
    study = optuna.load_study(study_name=throughput_study.name, storage=throughput_study.storage)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    params = set(complete[0].params)
    with serve_dashboard(throughput_study.workdir, throughput_study.storage) as dashboard:
        study_id = dashboard.study_id(throughput_study.name)

        browser.get(f"{dashboard.url}/dashboard/")
        _wait_for_text(browser, throughput_study.name)
        _screenshot(browser, "dashboard-studies.png")

        browser.get(f"{dashboard.url}/dashboard/studies/{study_id}")
        _wait_for_text(browser, "History", "Hyperparameter Importance")
        importance = _wait_for(browser, _IMPORTANCE_BARS, "the importance chart")
        assert importance["bars"] >= len(params), importance
        assert set(importance["labels"]) == params, importance
        points = _wait_for(browser, _HISTORY_POINTS, "the history chart")
        assert points >= len(complete)
        shot = _screenshot(browser, "dashboard-study.png")
        assert shot.stat().st_size > 20_000

        # A complete trial shows our user_attrs, params named as in the config file.
        best = study.best_trial
        browser.get(f"{dashboard.url}/dashboard/studies/{study_id}/trials?numbers={best.number}")
        text = _wait_for_text(browser, f"Trial {best.number}", "User Attributes", "fitness_ci_low")
        for key in ("fitness_ci_high", "p99_ratio", "per_test", "repetitions", "build_tag",
                    "timings", "config"):  # fmt: skip
            assert key in text, key
        assert "buffers.read_size" in text
        _screenshot(browser, "dashboard-trial.png")

        # A failed trial says why.
        failure = failed[0]
        browser.get(f"{dashboard.url}/dashboard/studies/{study_id}/trials?numbers={failure.number}")
        _wait_for_text(
            browser,
            f"Trial {failure.number}",
            "failure_reason",
            failure.user_attrs["failure_reason"],
        )
        _screenshot(browser, "dashboard-failed-trial.png")


_RENDERED_FIGURES_AT_LEAST = """
const done = [...document.querySelectorAll('div[id^="fig-"]')]
  .filter(d => d.querySelector('.main-svg') && d.querySelectorAll('.trace').length > 0)
  .map(d => d.id.slice(4));
return done.length >= {n} ? done : null;
"""


def test_report_renders_offline_in_chromium(
    browser: Any, throughput_study: MockStudy, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    done = tuner(throughput_study.workdir, "study", "report", throughput_study.name,
                 "--storage", throughput_study.storage, "-o", str(out), "--no-png")  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads((out / "report.json").read_text())["figures"]
    # file:// and no network access needed: plotly.js is inlined in the page.
    browser.get((out / "report.html").as_uri())
    script = _RENDERED_FIGURES_AT_LEAST.replace("{n}", str(len(figures)))
    rendered = _wait_for(browser, script, "every report figure")
    assert sorted(rendered) == sorted(figures)
    _screenshot(browser, "report.png")

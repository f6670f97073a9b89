"""The review page in real headless Chromium (Debian's ``chromium``, driven by Playwright).

A PI logs in, opens a flight awaiting review, zooms (the page fetches the window), switches the
evaluation method, sets a manual flag range with a comment and approves; the database must say
so. A screenshot is saved in the test's output directory. Outside CI the test skips when
``/usr/bin/chromium`` is missing; under ``CI=true`` it fails instead (.ci/run installs it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import PASSWORD, Review

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (Debian package 'chromium'; apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " — required under CI=true")
        pytest.skip(message)
    return CHROMIUM


def test_pi_reviews_a_flight_in_chromium(
    review: Review, live_server: object, chromium_path: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from stratoflow.server.catalog.models import Series

    flight = review.flight.identifier  # type: ignore[attr-defined]
    o3 = Series.objects.get(flight=review.flight, variable="O3_P1", is_current=True)
    assert o3.time_start is not None and o3.time_end is not None
    start = o3.time_start.replace(microsecond=0)
    flag_start = (start + (o3.time_end - o3.time_start) / 3).strftime("%Y-%m-%d %H:%M:%S")
    flag_end = (start + (o3.time_end - o3.time_start) / 2).strftime("%Y-%m-%d %H:%M:%S")
    base = str(live_server.url)  # type: ignore[attr-defined]
    screenshot = tmp_path / "review-page.png"
    console_errors: list[str] = []

    # No ORM call inside the Playwright block: its event loop would make Django refuse them.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/review/flight/{flight}/")
        assert "/review/login/" in page.url  # login required
        page.fill("#id_username", "pi")
        page.fill("#id_password", PASSWORD)
        page.click("#login")
        page.wait_for_url(f"**/review/flight/{flight}/")
        page.wait_for_selector("#plots[data-ready='1']", timeout=30_000)
        assert "points plotted" in page.inner_text("#plot-status")
        assert page.locator("#plots .main-svg").count() > 0  # Plotly drew

        # zoom: the page asks the server for the visible window only
        with page.expect_response(lambda r: "/data?start=" in r.url) as zoomed:
            page.evaluate(
                "r => Plotly.relayout(document.getElementById('plots'), {'xaxis.range': r})",
                [flag_start, flag_end],
            )
        assert zoomed.value.ok
        page.wait_for_selector("#plots[data-ready='1']", timeout=30_000)
        zoom_status = page.inner_text("#plot-status")
        # the visible range goes into the manual-flag form with one click
        page.click("#use-range")
        assert page.input_value("#mf_start") == flag_start
        assert page.input_value("#mf_end") == flag_end

        # switch the evaluation method
        page.select_option("#ev_method", "critical")
        page.fill("#ev_reason", "IAGOS rule for this instrument")
        page.click("#evaluate-form button[type=submit]")
        page.wait_for_selector("#plots[data-ready='1']", timeout=30_000)
        assert page.inner_text("#current-method") == "critical"

        # a manual flag on a time range, with its comment
        page.select_option("#mf_variables", ["O3_P1"])
        page.fill("#mf_start", flag_start)
        page.fill("#mf_end", flag_end)
        page.select_option("#mf_flag", "3")
        page.fill("#mf_comment", "inlet heater failure noted in the log book")
        page.click("#flag-form button[type=submit]")
        page.wait_for_selector("#plots[data-ready='1']", timeout=30_000)
        assert "inlet heater failure" in page.inner_text("#manual-flags")

        # approve (release to L1)
        page.select_option("#ap_level", "L1")
        page.fill("#ap_reason", "plausible after manual flagging")
        page.click("#approve-form button.approve")
        page.wait_for_selector("#plots[data-ready='1']", timeout=30_000)
        assert "released to L1" in page.inner_text(".messages")
        history = page.inner_text("#history")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()

    assert not console_errors, console_errors
    points, total = (int(n.replace(",", "")) for n in zoom_status.split()[:3:2])
    assert 0 < points == total < o3.n_points * 8  # the zoom window only, at full resolution
    for action in ("reevaluate", "manual_flag", "approve"):
        assert action in history

    from stratoflow.flags import Flag
    from stratoflow.server.catalog.selectors import series_arrays, series_qc_flags
    from stratoflow.server.review.models import Decision, ManualFlag, ReviewEvent

    decision = Decision.objects.get(flight=review.flight)
    assert (decision.action, decision.level, decision.user) == ("approve", "L1", review.pi)
    review.task.refresh_from_db()  # type: ignore[attr-defined]
    assert review.task.state == "done"  # type: ignore[attr-defined]
    manual = ManualFlag.objects.get(flight=review.flight)
    assert (manual.variable, manual.flag, manual.user) == ("O3_P1", 3, review.pi)
    assert manual.comment == "inlet heater failure noted in the log book"
    run = o3.qc_runs.get(is_current=True)
    assert run.evaluation == "critical"
    time = series_arrays(o3)["time"]
    inside = (time >= __import__("numpy").datetime64(flag_start)) & (
        time <= __import__("numpy").datetime64(flag_end)
    )
    flags = series_qc_flags(o3)
    assert flags is not None and inside.any()
    assert ((flags[inside] == int(Flag.BAD)) | (flags[inside] == int(Flag.MISSING))).all()
    events = list(
        ReviewEvent.objects.filter(flight=review.flight, user=review.pi)
        .order_by("created_at", "id")
        .values_list("action", "reason")
    )
    assert events == [
        ("reevaluate", "IAGOS rule for this instrument"),
        ("manual_flag", "inlet heater failure noted in the log book"),
        ("approve", "plausible after manual flagging"),
    ]
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")

"""The serving page in headless Chromium: type a request, press Score, read the answer (or the error)."""

from __future__ import annotations

import pytest
from fake_serving import LemonadeStand, expected_score

from browser import browser_page, require_chromium
from fti.serve import background


@pytest.fixture
def page_url():
    require_chromium()
    with background(LemonadeStand()) as url:
        yield url


def test_a_person_scores_a_request_and_sees_the_features(page_url, tmp_path):
    with browser_page(width=1200, height=900) as page:
        page.goto(page_url)
        assert page.title() == "Lemonade stand"
        # Labels are tied to their inputs: the field is found by its label, as a screen reader would.
        page.get_by_label("cups").fill("80")
        page.get_by_label("sunny").select_option("false")
        page.get_by_role("button", name="Score").click()
        page.wait_for_selector("#score")
        score = expected_score(80, 1.5, False)
        assert page.inner_text("#score") == f"{score:.4f}"
        assert page.inner_text("#decision") == ("make more" if score >= 0.5 else "enough")
        features = dict(zip(page.locator("#features tbody th").all_inner_texts(),
                            page.locator("#features tbody td").all_inner_texts(), strict=True))
        assert features["cups"] == "80" and features["sunny"] == "false" and features["opening_hour"] == "9"
        assert features["rain_mm"] == "missing"  # NaN arrives as null
        assert page.locator("#others").inner_text().count("corner of Elm street") == 1
        shot = tmp_path / "serving_page.png"
        page.screenshot(path=str(shot), full_page=True)
        # A blank or unstyled page compresses to a few kilobytes; this one has a form, a big score and a table.
        assert shot.stat().st_size > 30_000, shot.stat().st_size

        page.get_by_label("cups").fill("lots")
        page.get_by_role("button", name="Score").click()
        error = page.get_by_role("alert")
        error.wait_for()
        assert "field 'cups' must be a whole number, e.g. '40'; got 'lots'" in error.inner_text()
        assert page.locator("#score").count() == 0, "an old score must not stay next to the error"

"""The committed notebooks as a student sees them: opened in JupyterLab in headless Chromium.

Each notebook that has figures must show them as images in the rendered page,
never as the text ``<Figure size ...>``. A screenshot of each is left in the
test's temporary folder (printed with ``-s``) for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser import browser_page, jupyterlab, require_chromium
from fti.paths import REPO_ROOT

pytestmark = pytest.mark.slow

WITH_FIGURES = ["titanic/03_training_pipeline.ipynb", "titanic/04_batch_inference.ipynb",
                "titanic/05_monitoring.ipynb", "fraud/03_training_pipeline.ipynb", "fraud/05_monitoring.ipynb"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> str:
    require_chromium()
    with jupyterlab(REPO_ROOT, tmp_path_factory.mktemp("jupyterlab")) as url:
        yield url


@pytest.mark.parametrize("notebook", WITH_FIGURES)
def test_figures_show_as_images_in_jupyterlab(lab: str, notebook: str, tmp_path: Path) -> None:
    base, token = lab.split("|")
    with browser_page() as page:
        page.goto(f"{base}/lab/tree/notebooks/{notebook}?token={token}", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-OutputArea-output", state="attached", timeout=60_000)
        # Outputs render cell by cell as the page scrolls; walk to the end so every one is drawn.
        for _ in range(40):
            page.keyboard.press("PageDown")
        page.wait_for_timeout(1500)
        images = page.locator(".jp-OutputArea-output img")
        as_text = page.locator(".jp-OutputArea-output pre", has_text=re.compile(r"<\w*Figure size"))
        screenshot = tmp_path / (Path(notebook).stem + ".png")
        page.screenshot(path=str(screenshot), full_page=False)
        print(f"screenshot: {screenshot}")
        assert as_text.count() == 0, f"{notebook}: {as_text.count()} figure(s) shown as text in JupyterLab"
        assert images.count() >= 1, f"{notebook}: no figure rendered as an image in JupyterLab"

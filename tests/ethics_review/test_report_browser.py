"""The audit report renders in a real headless Chromium, with every plot decoded and drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser import chromium_page
from tests.ethics_review.conftest import World


@pytest.mark.browser
def test_report_renders_its_plots_in_chromium(world: World, tmp_path: Path) -> None:
    report = world.proxied.local_paths["report.html"]
    shot = tmp_path / "report.png"
    with chromium_page() as page:
        page.goto(report.as_uri())
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => ({w: e.naturalWidth, h: e.naturalHeight, done: e.complete}))"
        )
        heading = page.inner_text("h1")
        page.screenshot(path=str(shot), full_page=True)
    assert "riskscan-vw" in heading
    assert len(images) >= 5, "ratio, score, proxy and counterfactual plots"
    assert all(i["done"] and i["w"] > 200 and i["h"] > 100 for i in images), images
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[0] > 2000, "a full-page screenshot of a long report"
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 60
    assert colourful.mean() > 0.01, "plots draw coloured marks, not a blank page"


@pytest.mark.browser
def test_the_dutch_summary_fits_one_screen_at_1400_pixels(world: World) -> None:
    with chromium_page(width=1400, height=1000) as page:
        page.goto(world.clean.local_paths["report.html"].as_uri())
        bottom = page.eval_on_selector("section.summary", "e => e.getBoundingClientRect().bottom")
        heading = page.inner_text("section.summary h2")
        undecided_rows = page.eval_on_selector_all("table.undecided tr", "rows => rows.length")
    assert heading == "Samenvatting voor de Commissie Data Ethiek"
    assert bottom <= 1100, f"the summary ends at {bottom} px"
    assert undecided_rows > 1, "undecided checks are rows of one table"

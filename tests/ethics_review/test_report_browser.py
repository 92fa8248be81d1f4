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
        plot_shots = [tmp_path / f"plot-{i}.png" for i in range(len(images))]
        for i, plot in enumerate(page.locator("img").all()):
            plot.screenshot(path=str(plot_shots[i]))
    assert "riskscan-vw" in heading
    assert len(images) >= 5, "ratio, score, proxy and counterfactual plots"
    assert all(i["done"] and i["w"] > 200 and i["h"] > 100 for i in images), images
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[0] > 2000, "a full-page screenshot of a long report"
    # Each plot as drawn on the page: coloured marks, not a blank box. (The share of the whole page says
    # little since the report's text shrank to one table of undecided checks.)
    for plot_shot in plot_shots:
        plot_pixels = np.asarray(Image.open(plot_shot).convert("RGB"), dtype=float)
        colourful = (plot_pixels.max(axis=2) - plot_pixels.min(axis=2)) > 60
        assert colourful.sum() >= 100, f"{plot_shot.name} draws coloured marks, not a blank box"


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

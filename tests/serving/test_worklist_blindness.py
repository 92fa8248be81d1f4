"""The random control sample is blind on the staff pages: a classifier given everything the worklist shows
of each case cannot tell a control case from a signal.

The effectiveness study compares the outcome rate of model-selected cases with that of the random control
sample; it only measures the model if staff investigate both alike, so staff must not be able to tell them
apart (seed 000, l.2669-2693). The test scores a few thousand real cases from the generator, renders the
worklist as enforcement staff see it, page after page (following the page's own "volgende" link), scrapes
each case's block (the page number, its position on the page and on the whole list, every word and every
number in it, ids left out) and asks a cross-validated gradient-boosting classifier to predict the control
flag that the decision log holds. A second test gives the classifier the page number and the position
alone: where a case is listed must carry nothing either.

The figure varies from run to run: the request ids are random, and they order the cases of one arrival
time. Measured on 2 December 2026 (1,134 listed cases on 23 pages, 290 controls): 0.552, 0.476, 0.517 and
0.491 in four runs; with the positions shuffled at random, fifteen times, 0.45 to 0.54. Chance alone thus
spreads the figure by about 0.03 around 0.5, and a limit of 0.55 failed about one run in twenty with
nothing to find. The limit is 0.60, about three such spreads above chance, and two more tests show that the
same classifier on the same cases finds a real leak far above it: the control cases listed first (what
ranking the open list by the control draw would do) and one word more in each control case's block.

The test keeps its own, empty decision log (the shared home's models, a copy of its database from before
any test scored a case): the worklist lists every open control case first, so on the shared log, after the
other tests have scored tens of thousands of cases and closed few, the page holds controls only and there
is nothing to tell apart.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from starlette.testclient import TestClient
from threadpoolctl import threadpool_limits

from serving.auth import Authenticator
from serving.runtime import ScanRuntime
from serving.store import ServingStore
from serving.web import build_app
from tests.lifecycle import home_environment
from tests.serving.conftest import LANDING, ServedHome, caseload, form_csrf

#: Cases scored for the test: with a 5 % control share about 300 controls are listed.
CASES = 6000
BATCH = 1000
#: About three times chance's spread above 0.5 (module docstring); a leak scores far above it.
MAX_AUC = 0.60
#: What the leaks below must reach, to show that the classifier would see one at this sample size.
LEAK_AUC = 0.9
NUMBERS = 12  # numbers kept per case block, in the order they appear
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


@dataclass
class CaseBlock:
    """What the page shows of one case: its request id (to look up the truth), its text and position."""

    request_id: str
    position: int
    text: list[str] = field(default_factory=list)


class _CaseScraper(HTMLParser):
    """Collects the text inside every ``<div class="case" data-request-id=...>`` block (forms included,
    hidden values too, since a browser user can read the page source)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[CaseBlock] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self._depth:
            self._depth += tag == "div"
            self.blocks[-1].text.extend(f"{name}={value}" for name, value in attrs if name != "name")
        elif tag == "div" and "case" in (values.get("class") or "").split():
            self.blocks.append(CaseBlock(str(values.get("data-request-id")), len(self.blocks)))
            self._depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self._depth and tag == "div":
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.blocks[-1].text.append(data)


def scraped_cases(page: str, runtime: ScanRuntime) -> tuple[list[str], list[str], list[int], list[bool]]:
    """The page's case blocks as request id, text without ids and position on the page, and the logged
    control flag."""
    scraper = _CaseScraper()
    scraper.feed(page)
    texts, positions, control = [], [], []
    for block in scraper.blocks:
        logged = runtime.store.get_score(block.request_id)
        assert logged is not None, block.request_id
        text = " ".join(block.text).replace(block.request_id, " ").replace(logged.case_id, " ")
        texts.append(text)
        positions.append(block.position)
        control.append(logged.control)
    return [block.request_id for block in scraper.blocks], texts, positions, control


def next_page(page: str) -> str | None:
    """The address of the page's "volgende" link, as a browser would follow it; None on the last page."""
    found = re.search(r'<a href="([^"]+)" rel="next">', page)
    return html.unescape(found[1]) if found else None


@dataclass
class Scraped:
    """Every listed case of every page: its text, where it is listed, and the logged control flag."""

    request_ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    page: list[int] = field(default_factory=list)
    on_page: list[int] = field(default_factory=list)
    control: list[bool] = field(default_factory=list)

    def where(self) -> np.ndarray:
        """Page number, place on the page, and place on the whole list."""
        on_page, page = np.asarray(self.on_page), np.asarray(self.page)
        return np.column_stack([page, on_page, np.arange(len(page))])


def scrape_every_page(client: TestClient, runtime: ScanRuntime, first: str) -> Scraped:
    scraped, number = Scraped(), 1
    address: str | None = first
    while address is not None:
        answer = client.get(address)
        assert answer.status_code == 200, answer.text
        request_ids, texts, positions, control = scraped_cases(answer.text, runtime)
        assert texts, f"page {number} lists no case"
        scraped.request_ids += request_ids
        scraped.texts += texts
        scraped.on_page += positions
        scraped.page += [number] * len(texts)
        scraped.control += control
        address, number = next_page(answer.text), number + 1
    return scraped


def page_features(texts: list[str], where: np.ndarray) -> np.ndarray:
    """Where each block is listed, the first numbers of each block, and a bag of its words (those on at
    least five blocks)."""
    numbers = np.full((len(texts), NUMBERS), np.nan)
    for row, text in enumerate(texts):
        found = [float(n.replace(",", ".")) for n in _NUMBER.findall(text)][:NUMBERS]
        numbers[row, : len(found)] = found
    numbers = numbers[:, ~np.isnan(numbers).all(axis=0)]  # a position no block has a number at
    words = CountVectorizer(min_df=5, token_pattern=r"(?u)\b[^\W\d]\w+\b", ngram_range=(1, 2))
    bag = words.fit_transform(texts).toarray() if any(texts) else np.zeros((len(texts), 0))
    return np.column_stack([where, numbers, bag])


def control_auc(features: np.ndarray, control: np.ndarray) -> float:
    """Out-of-fold AUC of a gradient-boosting classifier predicting the control flag (5-fold CV).

    One OpenMP thread: on a loaded two-core machine more threads spin against each other for minutes.
    """
    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=0)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    with threadpool_limits(1):
        predicted = cross_val_predict(model, features, control, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(control, predicted))


@pytest.fixture(scope="module")
def scraped(served_home: ServedHome, tmp_path_factory: pytest.TempPathFactory) -> Scraped:
    """Every page of the VW worklist as enforcement staff see it, over the shared home's champions and a
    decision log of its own (a copy of the home's database from before any test scored a case), empty
    before this module scores :data:`CASES` real cases into it."""
    database = tmp_path_factory.mktemp("blind") / "blind.db"
    assert served_home.unscored is not None, "the shared served home keeps its unscored database"
    shutil.copyfile(served_home.unscored, database)
    with home_environment(served_home.path), ServingStore(f"sqlite:///{database}") as store:
        runtime = ScanRuntime(store=store)
        app = build_app()
        app.state.runtime, app.state.auth = runtime, Authenticator(store)
        token, _ = store.create_token(name="test handhaving", role="handhaving")
        with TestClient(app, follow_redirects=False) as client:
            cases = caseload(served_home, "vw", CASES)
            for start in range(0, len(cases), BATCH):
                runtime.score("vw", cases[start : start + BATCH], 5)  # what POST /score does for systeem
            form = client.get("/ui/login")
            login = {"token": token, "csrf": form_csrf(form.text), "next": LANDING["handhaving"]}
            assert client.post("/ui/login", data=login).status_code == 303
            return scrape_every_page(client, runtime, "/ui/worklist?scan=vw")


def test_a_classifier_cannot_tell_control_cases_from_signals_on_the_worklist(scraped: Scraped) -> None:
    control = np.asarray(scraped.control)
    assert control.sum() >= 150 and (~control).sum() >= 150, "both kinds must be on the pages"
    assert max(scraped.page) > 1, "the list must fill more than one page"
    auc = control_auc(page_features(scraped.texts, scraped.where()), control)
    print(
        f"worklist: {len(control)} cases on {max(scraped.page)} pages, {int(control.sum())} controls, "
        f"control AUC {auc:.3f}"
    )
    assert auc <= MAX_AUC, f"staff can tell control cases from signals: AUC {auc:.3f} > {MAX_AUC}"


def test_the_page_number_and_the_place_on_a_page_say_nothing_of_the_control_draw(scraped: Scraped) -> None:
    control = np.asarray(scraped.control)
    auc = control_auc(scraped.where(), control)
    print(f"worklist: control AUC from page number and position alone {auc:.3f}")
    assert auc <= MAX_AUC, f"where a case is listed tells a control from a signal: AUC {auc:.3f} > {MAX_AUC}"


def test_the_classifier_finds_a_leak_in_where_a_case_is_listed(scraped: Scraped) -> None:
    """The same cases listed with every control first: the place on the list gives the draw away."""
    control = np.asarray(scraped.control)
    # Each case's place on a list of the controls first, each kind in the pages' own order, in pages of 50.
    place = np.argsort(np.argsort(~control, kind="stable"))
    auc = control_auc(np.column_stack([place // 50 + 1, place % 50, place]), control)
    print(f"worklist: control AUC with the controls listed first {auc:.3f}")
    assert auc >= LEAK_AUC, f"the classifier missed a leak in the order: AUC {auc:.3f} < {LEAK_AUC}"


def test_the_classifier_finds_a_leak_of_one_word(scraped: Scraped) -> None:
    """The same blocks with one word more in each control case's: the text gives the draw away."""
    control = np.asarray(scraped.control)
    texts = [
        f"{text} steekproef" if is_control else text
        for text, is_control in zip(scraped.texts, control, strict=True)
    ]
    auc = control_auc(page_features(texts, scraped.where()), control)
    print(f"worklist: control AUC with one word more in each control block {auc:.3f}")
    assert auc >= LEAK_AUC, f"the classifier missed a one-word leak: AUC {auc:.3f} < {LEAK_AUC}"

"""The random control sample is blind on the staff pages: a classifier given everything the worklist shows
of each case cannot tell a control case from a signal.

The effectiveness study compares the outcome rate of model-selected cases with that of the random control
sample; it only measures the model if staff investigate both alike, so staff must not be able to tell them
apart (seed 000, l.2669-2693). The test scores a few thousand real cases from the generator, renders the
worklist as enforcement staff see it, scrapes each case's block (its position on the page, every word and
every number in it, ids left out) and asks a cross-validated gradient-boosting classifier to predict the
control flag that the decision log holds.

The test keeps its own, empty decision log (the shared home's models, a fresh database): the worklist
lists every open control case first, so on the shared log, after the other tests have scored tens of
thousands of cases and closed few, the page holds controls only and there is nothing to tell apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

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
from tests.serving.conftest import LANDING, ServedHome, caseload, form_csrf

#: Cases scored for the test: with a 5 % control share about 300 controls, enough for an AUC whose
#: standard error (about 0.02) keeps chance well below the 0.55 limit.
CASES = 6000
BATCH = 1000
MAX_AUC = 0.55
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


def scraped_cases(page: str, runtime: ScanRuntime) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The page's case blocks as (text without ids, position on the page) and the logged control flag."""
    scraper = _CaseScraper()
    scraper.feed(page)
    texts, positions, control = [], [], []
    for block in scraper.blocks:
        logged = runtime.store.get_score(block.request_id)
        assert logged is not None, block.request_id
        text = " ".join(block.text).replace(block.request_id, " ").replace(logged.case_id, " ")
        texts.append(text)
        positions.append(block.position / max(len(scraper.blocks) - 1, 1))
        control.append(logged.control)
    return texts, np.asarray(positions), np.asarray(control)


def page_features(texts: list[str], positions: np.ndarray) -> np.ndarray:
    """Position, the first numbers of each block, and a bag of its words (those on at least five pages)."""
    numbers = np.full((len(texts), NUMBERS), np.nan)
    for row, text in enumerate(texts):
        found = [float(n.replace(",", ".")) for n in _NUMBER.findall(text)][:NUMBERS]
        numbers[row, : len(found)] = found
    numbers = numbers[:, ~np.isnan(numbers).all(axis=0)]  # a position no block has a number at
    words = CountVectorizer(min_df=5, token_pattern=r"(?u)\b[^\W\d]\w+\b", ngram_range=(1, 2))
    bag = words.fit_transform(texts).toarray() if any(texts) else np.zeros((len(texts), 0))
    return np.column_stack([positions, numbers, bag])


def control_auc(features: np.ndarray, control: np.ndarray) -> float:
    """Out-of-fold AUC of a gradient-boosting classifier predicting the control flag (5-fold CV).

    One OpenMP thread: on a loaded two-core machine more threads spin against each other for minutes.
    """
    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=0)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    with threadpool_limits(1):
        predicted = cross_val_predict(model, features, control, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(control, predicted))


@pytest.fixture
def blank_log(at_home: ServedHome, tmp_path: Path) -> Iterator[tuple[TestClient, ScanRuntime, str]]:
    """The pages (the app the service mounts) over the shared home's champions and an empty decision log;
    yields a client, the runtime and a handhaving token of that log."""
    with ServingStore(f"sqlite:///{tmp_path / 'blind.db'}") as store:
        runtime = ScanRuntime(store=store)
        app = build_app()
        app.state.runtime, app.state.auth = runtime, Authenticator(store)
        token, _ = store.create_token(name="test handhaving", role="handhaving")
        with TestClient(app, follow_redirects=False) as client:
            yield client, runtime, token


def test_a_classifier_cannot_tell_control_cases_from_signals_on_the_worklist(
    blank_log: tuple[TestClient, ScanRuntime, str], served_home: ServedHome
) -> None:
    client, runtime, token = blank_log
    cases = caseload(served_home, "vw", CASES)
    for start in range(0, len(cases), BATCH):
        runtime.score("vw", cases[start : start + BATCH], 5)  # what POST /score does for the systeem role
    form = client.get("/ui/login")
    login = {"token": token, "csrf": form_csrf(form.text), "next": LANDING["handhaving"]}
    assert client.post("/ui/login", data=login).status_code == 303
    page = client.get("/ui/worklist", params={"scan": "vw"})
    assert page.status_code == 200, page.text
    texts, positions, control = scraped_cases(page.text, runtime)
    assert control.sum() >= 150 and (~control).sum() >= 150, "both kinds must be on the page"
    auc = control_auc(page_features(texts, positions), control)
    print(f"worklist: {len(control)} cases, {int(control.sum())} controls, control AUC {auc:.3f}")
    assert auc <= MAX_AUC, f"staff can tell control cases from signals: AUC {auc:.3f} > {MAX_AUC}"

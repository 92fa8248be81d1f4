"""One trained-and-audited world shared by the audit, gate and report tests (training is the slow part)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import synthetic as generator
from ethics_review.audit import AuditResult, audit_version
from features.sources import read_source
from models.governance import GovernanceStore
from models.specs import load_spec
from tests.lifecycle import home_environment
from training.train import train_scan

PROXIES = [
    "aanvraagkanaal",
    "correspondentietaal",
    "rni_inschrijving",
    "correspondentieadres",
    "intermediair",
    "postcode_regio",
    "eerdere_maatregelen",
]


@dataclass
class World:
    home: Path
    data: Path
    store: GovernanceStore
    clean: AuditResult
    proxied: AuditResult


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("home")
    data = tmp_path_factory.mktemp("data")
    with home_environment(home):
        config = generator.GeneratorConfig(n_applications=120_000, n_periods=20_000, seed=3)
        generator.write_tables(generator.generate(config), data, config)
        source = read_source(data, "ww_aanvragen")
        spec = load_spec("vw")
        quiet = {"progress": lambda _: None}
        clean_version = train_scan(spec, source, **quiet).version
        proxied_version = train_scan(spec.with_features([*spec.features, *PROXIES]), source, **quiet).version
        clean = audit_version("vw", clean_version, data_dir=data, **quiet)
        proxied = audit_version("vw", proxied_version, data_dir=data, **quiet)
        yield World(home, data, GovernanceStore(), clean, proxied)

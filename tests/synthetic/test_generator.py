"""Tests of the synthetic source-data generator: register conformity, calibration and planted hazards.

Every hazard is tested twice: present when switched on, absent when switched off. Sizes are kept small
(the sollicitatie table is larger because its sanctions are rare) and generated tables are shared per
module, so the whole file runs in seconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from features.register import Role, default_register
from features.sources import read_source
from riskscan.errors import InvalidInput
from synthetic import (
    APPLICATIONS,
    COVID_END,
    COVID_START,
    PERIODS,
    GeneratedTable,
    GeneratorConfig,
    Hazards,
    generate,
    generate_applications,
    generate_periods,
    summarize,
    write_tables,
)
from synthetic.calibration import national_applications

N_APPLICATIONS = 40_000
N_PERIODS = 150_000
ALL_OFF = Hazards(
    proxy_strength=0.0,
    paper_selection_bias=False,
    feedback_loop=False,
    covid_censoring=False,
    label_noise=0.0,
)
LABEL = {APPLICATIONS: "maatregel_vw", PERIODS: "maatregel_sollicitatie"}
DATE = {APPLICATIONS: "aanvraagdatum", PERIODS: "periode_start"}
ID = {APPLICATIONS: "aanvraag_id", PERIODS: "periode_id"}

Tables = dict[str, GeneratedTable]


@pytest.fixture(scope="module")
def generated() -> Callable[[Hazards], Tables]:
    """Both tables for a hazard setting, generated once per module and setting (same seed throughout)."""
    cache: dict[Hazards, Tables] = {}

    def tables(hazards: Hazards) -> Tables:
        if hazards not in cache:
            config = GeneratorConfig(n_applications=N_APPLICATIONS, n_periods=N_PERIODS, hazards=hazards)
            cache[hazards] = generate(config)
        return cache[hazards]

    return tables


@pytest.fixture(scope="module")
def default(generated: Callable[[Hazards], Tables]) -> Tables:
    return generated(Hazards())


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013); without the correction 90 postcode areas look associated."""
    observed = pd.crosstab(a, b).to_numpy(dtype=float)
    n = observed.sum()
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / n
    rows, cols = observed.shape
    phi2 = max(0.0, ((observed - expected) ** 2 / expected).sum() / n - (rows - 1) * (cols - 1) / (n - 1))
    rows_corrected, cols_corrected = rows - (rows - 1) ** 2 / (n - 1), cols - (cols - 1) ** 2 / (n - 1)
    return float(np.sqrt(phi2 / (min(rows_corrected, cols_corrected) - 1)))


def logistic_fit(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Maximum-likelihood logistic regression by Newton-Raphson; returns coefficients and standard errors."""
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        hessian = x.T @ (x * (p * (1.0 - p))[:, None])
        step = np.linalg.solve(hessian, x.T @ (y - p))
        beta = beta + step
        if np.abs(step).max() < 1e-8:
            break
    return beta, np.sqrt(np.diag(np.linalg.inv(hessian)))


def nationality_coefficients(
    table: GeneratedTable, *, pooled: bool = False
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Regress the truth on the legitimate behaviour it is built from, plus nationality dummies.

    Dutch is the reference; pooled uses one dummy for all non-Dutch groups (more power, smaller errors).
    """
    frame = table.frame
    if table.name == APPLICATIONS:
        legit = pd.get_dummies(frame["reden_einde_dienstverband"], drop_first=True).astype(float)
        legit["vaststellingsovereenkomst"] = frame["vaststellingsovereenkomst"].astype(float)
        legit["log_dagen"] = np.log1p(frame["dagen_tot_aanvraag"])
        legit["kort_dienstverband"] = (frame["dienstverband_maanden"] < 6).astype(float)
        legit["weken_tekort"] = 36 - frame["weken_gewerkt_36"]
    else:
        reported = frame["activiteiten_gemeld"]
        legit = pd.DataFrame(
            {
                "tekort": (frame["activiteiten_vereist"] - reported).clip(lower=0),
                "onverifieerbaar": 1 - frame["aandeel_verifieerbaar"].fillna(0),
                "herhaald": frame["herhaalde_activiteiten"] / reported.clip(lower=1),
                "gemist": frame["gemiste_afspraken"].clip(upper=3),
                "geweigerd": frame["geweigerd_aanbod"].clip(upper=2),
            }
        )
    groups = pd.get_dummies(frame["nationaliteit"]).drop(columns="nederlands").astype(float)
    if pooled:
        groups = groups.sum(axis=1).to_frame("niet_nederlands")
    x = np.column_stack([np.ones(len(frame)), legit.to_numpy(dtype=float), groups.to_numpy()])
    beta, se = logistic_fit(x, table.truth["violation"].to_numpy(dtype=float))
    return beta[-groups.shape[1] :], se[-groups.shape[1] :]


def outside_covid(table: GeneratedTable) -> pd.Series:
    dates = table.frame[DATE[table.name]]
    return (dates < pd.Timestamp(str(COVID_START))) | (dates >= pd.Timestamp(str(COVID_END)))


def low_risk_applications(frame: pd.DataFrame) -> pd.Series:
    """Applications the legacy rules rarely pick: routine reasons, no settlement, applied on time."""
    routine = frame["reden_einde_dienstverband"].isin(["bedrijfseconomisch", "einde_tijdelijk_contract"])
    return (
        routine & ~frame["vaststellingsovereenkomst"] & (frame["dagen_tot_aanvraag"] <= 14) & ~frame["wajong"]
    )


# --------------------------------------------------------------------------------------------------
# Register conformity and shape
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [APPLICATIONS, PERIODS])
def test_columns_dtypes_and_ranges_follow_the_register(default: Tables, name: str) -> None:
    frame = default[name].frame
    columns = default_register().table_columns(name)
    assert list(frame.columns) == [c.name for c in columns]
    for column in columns:
        series = frame[column.name]
        if column.dtype == "string":
            assert isinstance(series.dtype, pd.StringDtype), column.name
            assert series.notna().all()
        elif column.dtype == "date":
            assert pd.api.types.is_datetime64_dtype(series), column.name
            assert (series == series.dt.normalize()).all(), f"{column.name} carries a time of day"
        elif column.dtype == "category":
            assert isinstance(series.dtype, pd.CategoricalDtype), column.name
            assert list(series.cat.categories) == list(column.allowed_categories), column.name
            assert series.notna().all()
        elif column.role is Role.LABEL:
            assert series.dtype == "boolean", column.name
        elif column.dtype == "bool":
            assert series.dtype == np.bool_, column.name
        else:
            assert series.dtype == (np.int64 if column.dtype == "int" else np.float64), column.name
            assert column.nullable or series.notna().all(), column.name
            present = series.dropna()
            assert column.min is None or present.min() >= column.min, column.name
            assert column.max is None or present.max() <= column.max, column.name


def test_ids_are_unique_and_persons_do_not_overlap_between_tables(default: Tables) -> None:
    applications, periods = default[APPLICATIONS].frame, default[PERIODS].frame
    assert applications["aanvraag_id"].is_unique
    assert periods["periode_id"].is_unique
    assert applications["aanvraag_id"].iloc[0] == "A0000001"
    assert periods["periode_id"].iloc[0] == "P0000001"
    assert not set(applications["persoon_id"]) & set(periods["persoon_id"])


def test_periods_form_consecutive_runs_per_person(default: Tables) -> None:
    frame = default[PERIODS].frame
    runs = frame.groupby("persoon_id", sort=False)
    assert runs.size().mean() > 2
    weeks = runs["weken_ww"].diff().dropna()
    days = runs["periode_start"].diff().dropna().dt.days
    assert (weeks == 4).all()
    assert (days == 28).all()
    entitlement = frame["weken_ww"] + frame["resterende_rechtweken"]
    assert (entitlement.groupby(frame["persoon_id"]).nunique() == 1).all()
    for attribute in ("nationaliteit", "aanvraagkanaal", "correspondentietaal", "postcode_regio"):
        assert (runs[attribute].nunique() == 1).all(), attribute


def test_verifiable_share_is_empty_exactly_when_nothing_was_reported(default: Tables) -> None:
    frame = default[PERIODS].frame
    nothing = frame["activiteiten_gemeld"] == 0
    assert (frame["aandeel_verifieerbaar"].isna() == nothing).all()
    assert (frame.loc[nothing, "hoofdtype_activiteit"] == "geen").all()


@pytest.mark.parametrize("name", [APPLICATIONS, PERIODS])
def test_truth_is_kept_apart_from_the_source_table(default: Tables, name: str) -> None:
    table = default[name]
    # The periods also carry the truth of the stay-abroad scan's outcome (verblijf, the table's second scan).
    further = ["p_true_verblijf", "violation_verblijf"] if name == PERIODS else []
    assert list(table.truth.columns) == [ID[name], "p_true", "violation", *further]
    assert table.truth[ID[name]].equals(table.frame[ID[name]])
    assert not {"p_true", "violation", *further} & set(table.frame.columns)
    assert table.truth["p_true"].between(0, 1).all()


def test_stay_abroad_is_recorded_only_when_investigated_and_true_and_follows_logins_from_abroad(
    default: Tables,
) -> None:
    frame, truth = default[PERIODS].frame, default[PERIODS].truth
    recorded = frame["maatregel_verblijf"]
    assert (recorded.isna() == ~frame["onderzocht"]).all()
    assert not (recorded.fillna(False) & ~truth["violation_verblijf"]).any(), "a stay recorded that never was"
    # DATA_CARD "Stay abroad": 1.5% of periods without logins from abroad (a little more with missed
    # appointments), about nine times the odds with them; about 3% overall.
    by_flag = truth["violation_verblijf"].groupby(frame["inlog_buitenland"]).mean()
    assert 0.012 < by_flag[False] < 0.025 and 0.10 < by_flag[True] < 0.20
    assert 0.015 < truth["violation_verblijf"].mean() < 0.045


# --------------------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------------------
def test_same_config_gives_identical_tables_and_another_seed_does_not() -> None:
    config = GeneratorConfig(n_applications=5_000, n_periods=5_000)
    first, second = generate(config), generate(config)
    other = generate(GeneratorConfig(n_applications=5_000, n_periods=5_000, seed=config.seed + 1))
    for name in (APPLICATIONS, PERIODS):
        pd.testing.assert_frame_equal(first[name].frame, second[name].frame)
        pd.testing.assert_frame_equal(first[name].truth, second[name].truth)
        assert (
            not first[name]
            .frame.drop(columns=[ID[name], "persoon_id"])
            .equals(other[name].frame.drop(columns=[ID[name], "persoon_id"]))
        )


def test_recording_hazards_change_the_record_but_not_the_world(
    generated: Callable[[Hazards], Tables],
) -> None:
    realistic, switched_off = generated(Hazards()), generated(ALL_OFF)
    for name in (APPLICATIONS, PERIODS):
        # The stay-abroad truth follows inlog_buitenland, which proxy_strength moves by design: the one
        # truth of the world that a hazard changes (synthetic/generator.py); the scans' own truths do not.
        first = [ID[name], "p_true", "violation"]
        pd.testing.assert_frame_equal(realistic[name].truth[first], switched_off[name].truth[first])
        assert not realistic[name].frame[LABEL[name]].equals(switched_off[name].frame[LABEL[name]])


# --------------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------------
def test_base_rates_match_the_seed_figures(default: Tables) -> None:
    vw = summarize(default[APPLICATIONS])
    sollicitatie = summarize(default[PERIODS])
    assert 0.015 <= vw["observed_sanction_rate"] <= 0.025
    assert 0.006 <= sollicitatie["observed_sanction_rate"] <= 0.010


def test_investigated_shares_are_in_the_historical_range(default: Tables) -> None:
    assert 0.20 <= summarize(default[APPLICATIONS])["investigated_share"] <= 0.30
    assert 0.05 <= summarize(default[PERIODS])["investigated_share"] <= 0.12


def test_sample_fraction_is_rows_over_national_volume() -> None:
    one_month = GeneratorConfig(start="2019-01", end="2019-01", n_applications=360, n_periods=100)
    assert generate_applications(one_month).sample_fraction == pytest.approx(360 / 36_000)
    running_periods_in_january = 257_400 * 31 / 28
    assert generate_periods(one_month).sample_fraction == pytest.approx(100 / running_periods_in_january)


def test_months_from_full_volume_on_hold_every_national_application(tmp_path: Path) -> None:
    # 2019 national volume: 36,000 handled applications a month (APPLICATIONS_PER_MONTH_K).
    config = GeneratorConfig(start="2019-01", end="2019-04", n_applications=1_000, full_volume_from="2019-04")
    table = generate_applications(config)
    months = table.frame["aanvraagdatum"].dt.to_period("M").astype(str).value_counts()
    april = national_applications(np.array([np.datetime64("2019-04", "M")]))[0]
    assert months["2019-04"] == pytest.approx(april, rel=0.02), "the full month is complete"
    assert months.drop("2019-04").sum() == pytest.approx(1_000, rel=0.1), "earlier months are the sample"
    assert table.sample_fraction == pytest.approx(1_000 / (3 * 36_000), rel=0.05)
    write_tables({APPLICATIONS: table}, tmp_path, config)
    source = read_source(tmp_path, APPLICATIONS)
    fractions = source.fractions(source.frame["aanvraagdatum"])
    complete = source.frame["aanvraagdatum"].dt.to_period("M").astype(str).eq("2019-04").to_numpy()
    assert (fractions[complete] == 1.0).all() and (fractions[~complete] == table.sample_fraction).all()


def test_a_full_volume_month_outside_the_months_is_refused() -> None:
    with pytest.raises(InvalidInput, match="full_volume_from 2018-12"):
        GeneratorConfig(start="2019-01", end="2019-04", full_volume_from="2018-12")


# --------------------------------------------------------------------------------------------------
# Selection and labels
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [APPLICATIONS, PERIODS])
def test_labels_exist_only_for_investigated_cases(default: Tables, name: str) -> None:
    frame = default[name].frame
    assert (frame[LABEL[name]].notna() == frame["onderzocht"]).all()
    assert frame.loc[frame["controlesteekproef"], "onderzocht"].all()


@pytest.mark.parametrize("name", [APPLICATIONS, PERIODS])
def test_control_sample_is_a_random_five_percent(default: Tables, name: str) -> None:
    frame = default[name].frame
    eligible = ~frame["wajong"] if name == APPLICATIONS else pd.Series(True, index=frame.index)
    control = frame.loc[eligible, "controlesteekproef"]
    assert control.mean() == pytest.approx(0.05, abs=0.006)
    # Random means: the control sample's true prevalence matches the eligible population's.
    violation = default[name].truth["violation"][eligible]
    assert violation[control].mean() == pytest.approx(violation.mean(), abs=0.01)


@pytest.mark.parametrize("name", [APPLICATIONS, PERIODS])
def test_selection_probability_explains_the_investigations(default: Tables, name: str) -> None:
    frame = default[name].frame
    assert frame["onderzocht"].mean() == pytest.approx(frame["selectiekans"].mean(), abs=0.01)
    assert (frame.loc[frame["onderzocht"], "selectiekans"] >= GeneratorConfig().control_share).all()


def test_wajong_applicants_are_routed_away_from_the_vw_team(default: Tables) -> None:
    frame = default[APPLICATIONS].frame
    wajong = frame["wajong"]
    assert wajong.mean() == pytest.approx(0.015, abs=0.005)
    assert not frame.loc[wajong, "onderzocht"].any()
    assert (frame.loc[wajong, "selectiekans"] == 0).all()


# --------------------------------------------------------------------------------------------------
# Planted hazards: present when on, absent when off
# --------------------------------------------------------------------------------------------------
PROXIES = [
    "aanvraagkanaal",
    "correspondentietaal",
    "rni_inschrijving",
    "correspondentieadres",
    "intermediair",
    "postcode_regio",
    "inlog_buitenland",
]


@pytest.mark.parametrize("column", PROXIES)
def test_proxy_columns_follow_nationality_only_when_proxy_strength_is_on(
    generated: Callable[[Hazards], Tables], column: str
) -> None:
    strong = generated(Hazards())[APPLICATIONS].frame
    independent = generated(Hazards(proxy_strength=0.0))[APPLICATIONS].frame
    assert cramers_v(strong[column], strong["nationaliteit"]) > 0.2
    assert cramers_v(independent[column], independent["nationaliteit"]) < 0.03
    # Only the dependence changes, not the population distribution (total variation distance).
    shares = strong[column].value_counts(normalize=True) - independent[column].value_counts(normalize=True)
    assert shares.abs().sum() / 2 < 0.04


def test_legitimate_features_depend_on_nationality_only_mildly(default: Tables) -> None:
    frame = default[APPLICATIONS].frame
    for column in ("reden_einde_dienstverband", "contractsoort", "sector"):
        assert cramers_v(frame[column], frame["nationaliteit"]) < 0.1, column


def test_paper_applications_are_over_inspected_only_with_the_paper_bias(
    generated: Callable[[Hazards], Tables],
) -> None:
    def investigation_rates(hazards: Hazards) -> tuple[float, float, float]:
        table = generated(hazards)[APPLICATIONS]
        frame = table.frame
        paper = frame["aanvraagkanaal"] == "papier"
        routine = low_risk_applications(frame)
        normal_times = routine & outside_covid(table)
        covid = routine & ~outside_covid(table)
        return (
            frame.loc[normal_times & paper, "onderzocht"].mean(),
            frame.loc[normal_times & ~paper, "onderzocht"].mean(),
            frame.loc[covid & paper, "onderzocht"].mean(),
        )

    paper_on, digital_on, paper_in_covid = investigation_rates(Hazards())
    assert paper_on == 1.0
    assert digital_on < 0.15
    assert paper_in_covid < 0.3  # the 100% check was suspended from mid-March 2020
    paper_off, digital_off, _ = investigation_rates(Hazards(paper_selection_bias=False))
    assert paper_off == pytest.approx(digital_off, abs=0.05)

    periods = generated(Hazards())[PERIODS]
    frame = periods.frame.loc[outside_covid(periods)]
    paper = frame["aanvraagkanaal"] == "papier"
    assert frame.loc[paper, "onderzocht"].mean() >= 0.5
    assert frame.loc[~paper, "onderzocht"].mean() < 0.12


def test_feedback_loop_inflates_earlier_sanctions_of_paper_applicants(
    generated: Callable[[Hazards], Tables],
) -> None:
    def mean_earlier_sanctions(hazards: Hazards) -> pd.Series:
        frame = generated(hazards)[APPLICATIONS].frame
        return frame.groupby("aanvraagkanaal", observed=True)["eerdere_maatregelen"].mean()

    on, off = mean_earlier_sanctions(Hazards()), mean_earlier_sanctions(Hazards(feedback_loop=False))
    # Same seed, so the same latent past behaviour: only past inspection intensity differs.
    assert on["papier"] / on["digitaal"] > 2.0
    assert 0.75 < off["papier"] / off["digitaal"] < 1.33
    assert on["digitaal"] == pytest.approx(off["digitaal"], rel=0.05)


@pytest.mark.parametrize("name", [APPLICATIONS, PERIODS])
def test_covid_window_is_censored_only_with_covid_censoring(
    generated: Callable[[Hazards], Tables], name: str
) -> None:
    def sanctions_in_window(hazards: Hazards) -> tuple[int, int]:
        table = generated(hazards)[name]
        in_window = table.frame.loc[~outside_covid(table)]
        return int(in_window["onderzocht"].sum()), int(in_window[LABEL[name]].fillna(False).sum())

    investigated, sanctions = sanctions_in_window(Hazards())
    assert investigated > 0
    assert sanctions == 0
    assert sanctions_in_window(Hazards(covid_censoring=False))[1] > 0


@pytest.mark.parametrize("name", [APPLICATIONS, PERIODS])
def test_label_noise_adds_wrong_sanctions_mostly_to_non_dutch_correspondence(
    generated: Callable[[Hazards], Tables], name: str
) -> None:
    def wrong_sanctions(hazards: Hazards) -> pd.Series:
        table = generated(hazards)[name]
        frame = table.frame
        innocent_investigated = frame["onderzocht"] & ~table.truth["violation"]
        wrong = frame.loc[innocent_investigated, LABEL[name]].astype(bool)
        dutch = frame.loc[innocent_investigated, "correspondentietaal"] == "nl"
        return wrong.groupby(dutch).mean()

    on = wrong_sanctions(Hazards())
    assert on.min() > 0
    if name == APPLICATIONS:  # sollicitatie counts are too small for a stable ratio at this size
        assert on[False] > 2 * on[True]
    assert wrong_sanctions(Hazards(label_noise=0.0)).max() == 0


@pytest.mark.parametrize("name", [APPLICATIONS, PERIODS])
def test_truth_does_not_depend_on_nationality_unless_planted(
    generated: Callable[[Hazards], Tables], name: str
) -> None:
    coefficients, errors = nationality_coefficients(generated(Hazards())[name])
    assert (np.abs(coefficients / errors) < 3.5).all(), coefficients

    planted = generated(Hazards(truth_depends_on_nationality=True))[name]
    coefficients, errors = nationality_coefficients(planted, pooled=True)
    assert coefficients[0] > 0.4
    assert coefficients[0] / errors[0] > 4


def test_proxies_raise_recorded_sanctions_but_not_the_truth_at_equal_risk(default: Tables) -> None:
    """What a model trained on labels learns from proxies: more recorded sanctions at the same true risk."""
    table = default[APPLICATIONS]
    frame = table.frame
    rows = (frame["onderzocht"] & outside_covid(table)).to_numpy()
    p_true = table.truth["p_true"].to_numpy()[rows]
    proxy = ((frame["aanvraagkanaal"] == "papier") | (frame["correspondentietaal"] != "nl")).to_numpy()[rows]
    x = np.column_stack([np.ones(rows.sum()), np.log(p_true / (1 - p_true)), proxy])
    recorded = frame[LABEL[APPLICATIONS]].to_numpy(dtype=float, na_value=np.nan)[rows]
    beta, se = logistic_fit(x, recorded)
    assert beta[2] > 0.3
    assert beta[2] / se[2] > 3
    beta, se = logistic_fit(x, table.truth["violation"].to_numpy(dtype=float)[rows])
    assert abs(beta[2] / se[2]) < 3.5


# --------------------------------------------------------------------------------------------------
# Output and configuration
# --------------------------------------------------------------------------------------------------
def test_write_tables_writes_parquet_manifest_and_truth_on_request(tmp_path: Path) -> None:
    config = GeneratorConfig(n_applications=2_000, n_periods=2_000)
    tables = generate(config)
    manifest_path = write_tables(tables, tmp_path / "plain", config)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["register_content_hash"] == default_register().content_hash
    assert manifest["config"]["hazards"]["label_noise"] == config.hazards.label_noise
    assert not (tmp_path / "plain" / "_truth").exists()
    for name, table in tables.items():
        entry = manifest["tables"][name]
        path = tmp_path / "plain" / entry["file"]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["rows"] == 2_000
        assert entry["label_coverage"] == pytest.approx(table.frame["onderzocht"].mean())
        pd.testing.assert_frame_equal(pd.read_parquet(path), table.frame)

    write_tables(tables, tmp_path / "with_truth", config, with_truth=True)
    for name, table in tables.items():
        truth = pd.read_parquet(tmp_path / "with_truth" / "_truth" / f"{name}.parquet")
        pd.testing.assert_frame_equal(truth, table.truth)


def test_invalid_configurations_are_refused() -> None:
    with pytest.raises(InvalidInput, match="proxy_strength"):
        Hazards(proxy_strength=1.5)
    with pytest.raises(InvalidInput, match="label_noise"):
        Hazards(label_noise=-0.1)
    with pytest.raises(InvalidInput, match="lies after"):
        GeneratorConfig(start="2021-01", end="2020-12")
    with pytest.raises(InvalidInput, match="control_share"):
        GeneratorConfig(control_share=1.5)


def test_a_later_caseload_numbers_its_cases_after_the_extract() -> None:
    """Logged cases are joined back to the extract by id, so a new caseload must not reuse ids."""
    first = generate(GeneratorConfig(n_applications=300, n_periods=300, seed=1))
    later = generate(GeneratorConfig(n_applications=300, n_periods=300, seed=1, first_id=1_000_001))
    for name, key in ((APPLICATIONS, "aanvraag_id"), (PERIODS, "periode_id")):
        assert not set(first[name].frame[key]) & set(later[name].frame[key])
        assert not set(first[name].frame["persoon_id"]) & set(later[name].frame["persoon_id"])
        assert later[name].frame[key].iloc[0] == f"{key[0].upper()}1000001"
    assert not set(later["ww_aanvragen"].frame["persoon_id"]) & set(
        later["ww_sollicitatieperiodes"].frame["persoon_id"]
    )
    with pytest.raises(InvalidInput, match="first_id must be at least 1, got 0"):
        GeneratorConfig(first_id=0)

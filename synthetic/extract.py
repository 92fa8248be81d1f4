"""The generated extract on disk: a Parquet file per table, the hidden truth on request, and the manifest.

The manifest (``manifest.json``, the file :func:`features.sources.read_source` checks) carries the config
(hazards included), the register's content hash, the generator version, ``"synthetic": true`` (the mark
``simulate-month`` insists on before it adds anything to an extract) and, per table, the sha256 of the
Parquet file and the table's headline figures (:func:`summarize`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from features.register import default_register
from features.sources import MANIFEST_FILE, file_sha256
from riskscan.jsonio import write_json
from synthetic.calibration import COVID_END, COVID_START
from synthetic.config import GeneratorConfig
from synthetic.draws import in_window, share
from synthetic.generator import GENERATOR_VERSION, SANCTION_RATE_TARGETS
from synthetic.record import GeneratedTable


def write_tables(
    tables: dict[str, GeneratedTable], out_dir: Path, config: GeneratorConfig, *, with_truth: bool = False
) -> Path:
    """Write each table as parquet plus a manifest; the truth only on request, under _truth/.

    Returns the manifest path. The manifest carries the config (hazards included), the register's
    content hash, the generator version and, per table, the sha256 of the parquet file and its summary.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "register_content_hash": default_register().content_hash,
        "config": asdict(config),
        "synthetic": True,
        "tables": {},
    }
    for name, table in tables.items():
        path = out_dir / f"{name}.parquet"
        table.frame.to_parquet(path, index=False)
        entry: dict[str, Any] = {"file": path.name, "sha256": file_sha256(path), **summarize(table)}
        if with_truth:
            truth_path = out_dir / "_truth" / f"{name}.parquet"
            truth_path.parent.mkdir(exist_ok=True)
            table.truth.to_parquet(truth_path, index=False)
            entry["truth_file"] = str(truth_path.relative_to(out_dir))
            entry["truth_sha256"] = file_sha256(truth_path)
        manifest["tables"][name] = entry
    return write_json(out_dir / MANIFEST_FILE, manifest)


def summarize(table: GeneratedTable) -> dict[str, Any]:
    """Headline figures of one generated table.

    observed_sanction_rate follows the seeds' definition and leaves out the COVID window: for VW sanctions
    per handled application, for sollicitatie sanctions per running benefit per 4 months.
    wrong_sanction_share is the share of recorded sanctions without a true violation (label noise).
    A figure without any rows to compute it on is None.
    """
    register = default_register()
    label = register.label_for_scan(register.tables[table.name].scans[0]).name
    frame = table.frame
    dates = frame[register.tables[table.name].time].to_numpy(dtype="datetime64[D]")
    outside = ~in_window(dates, COVID_START, COVID_END)
    sanction = frame[label].fillna(False).to_numpy(dtype=bool)
    investigated = frame["onderzocht"].to_numpy(dtype=bool)
    violation = table.truth["violation"].to_numpy(dtype=bool)
    _, scale = SANCTION_RATE_TARGETS[table.name]
    rows = len(frame)
    return {
        "rows": rows,
        "first_date": str(dates.min()) if rows else None,
        "last_date": str(dates.max()) if rows else None,
        "sample_fraction": table.sample_fraction,
        "full_volume_from": table.full_volume_from,
        "investigated_share": share(investigated),
        "control_share": share(frame["controlesteekproef"].to_numpy(dtype=bool)),
        "label_coverage": share(frame[label].notna().to_numpy()),
        "observed_sanction_rate": share(sanction[outside], scale),
        "true_violation_prevalence": share(violation),
        "wrong_sanction_share": share(~violation[sanction]),
    }

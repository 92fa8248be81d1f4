"""Training and evaluating a scan's model, and assembling retraining data from logged outcomes.

Owns the temporal split and selection weights (``split``), the fit of either model family (locally or,
for LightGBM, on Dask: ``distributed``) with calibration and the operating point (``fit``), the training
run that fits both families and registers the spec's (``train``), the metrics and bootstrap intervals on
held-out and random-control cases, per family (``evaluate``), the champion/challenger comparison
(``compare``), the retraining table built from a plain frame of logged cases (``retrain``) and the
training plots.

May import the platform, ``features`` and ``models`` (specs, scorer, registry). Never ``serving``: the
jobs hand it logged cases as a DataFrame, so the life cycle keeps flowing one way.
"""

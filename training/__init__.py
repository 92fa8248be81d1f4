"""Training and evaluating a scan's model, and assembling retraining data from logged outcomes.

Owns the temporal split, the fit (locally or on Dask, ``distributed``), calibration and the operating
point (``train``), the metrics and bootstrap intervals on held-out and random-control cases
(``evaluate``), the champion/challenger comparison (``compare``), the retraining table built from a plain
frame of logged cases (``retrain``) and the training plots.

May import the platform, ``features`` and ``models`` (specs, scorer, registry). Never ``serving``: the
jobs hand it logged cases as a DataFrame, so the life cycle keeps flowing one way.
"""

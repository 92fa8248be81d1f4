"""What a model is and what may be served: scan specs, the scorer, the MLflow registry, governance records
and the promotion gate.

Owns the reviewed scan specifications (``scans/*.yaml``, ``specs``), the saved model and its exact
explanations (``scorer``, ``pyfunc_model``), the two model families a spec may choose, LightGBM and
logistic regression, each with exact margin-sum explanations (``families``), MLflow access with aliases
(``registry``), the committee's decisions, promotions and withdrawals (``governance/``) and the gate that
moves ``champion`` only on an approved, audited, unwithdrawn version (``gate``).

May import the platform and ``features``; the stages above (training, ethics_review, serving, jobs) build
on it.
"""

"""Source data made fit for models: the feature register, validation and the feature pipelines.

Owns ``register.yaml`` and its loader (every column's source, legal basis, lawfulness, role and proxy
risk), the validators of tables (pandera) and single cases (pydantic) built from it (``schemas``), the
source extract and its manifest (``sources``), the scikit-learn pipelines and routing (``pipeline``) and
the reference profiles that monitoring compares against (``profile``).

May import only the platform (``riskscan.*``): it is the bottom stage, and no other stage is below it.
"""

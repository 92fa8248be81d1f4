"""The ethics review of a model version: the audit the data-ethics committee reads before it decides.

Owns the audit (``audit``: orchestration; ``cases``: what is measured; ``checks``: the families of
checks), group fairness (``fairness/``), the proxy scan (``proxies``), the counterfactual test
(``counterfactual``), the committee's documents (``report``, ``plots``, ``templates/``), the
Algoritmeregister entry (``algoritmeregister``, publication standard 1.0) and the reading of tables for
the model-agnostic verbs (``tables``).

May import the platform (``riskscan.*``), ``features`` and ``models``; never ``training``, ``serving``,
``jobs`` or ``synthetic``.
"""

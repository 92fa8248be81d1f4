"""Scheduled jobs of the feedback loop: retraining from recorded outcomes, and monitoring of live traffic.

The one package that reads from every stage below it (serving's log and outcomes, the registry, the
audit) and writes back only through ``training`` and ``models``. May import the platform, ``features``,
``training``, ``models``, ``ethics_review`` and ``serving``; only the command line imports it, and it
never imports ``synthetic``.
"""

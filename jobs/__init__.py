"""Scheduled jobs of the feedback loop: retraining from recorded outcomes, and monitoring of live traffic.

The one package that reads from every stage (serving's log, the registry, the audit) and writes back
through training/ and models/; no other package imports it.
"""

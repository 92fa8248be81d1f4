"""Alembic migrations of the one riskscan database (see riskscan.db): governance records and the
decision log alike.

Revisions live in ``versions/`` and are named by their id: ``0001_governance``, ``0002_<topic>`` and so
on. ``riskscan.db.upgrade`` runs them from code; ``alembic.ini`` here is for developers who want the
``alembic`` command line.
"""

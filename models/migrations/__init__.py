"""Alembic migrations of the governance database (see models.governance).

Revisions live in ``versions/`` and are named by their id: ``0001_governance``, ``0002_<topic>`` and so
on. ``models.governance.upgrade`` runs them from code; ``alembic.ini`` here is for developers who want the
``alembic`` command line.
"""

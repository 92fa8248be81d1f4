"""Serving a champion and keeping the evidence of every score.

Owns the BentoML service (``service``) and what it does without HTTP (``runtime``, ``scoring``), the batch
scorer (``batch``, ``batch_dask``), the hash-chained decision log (``log/``), outcomes (``outcomes``), API
tokens and roles (``tokens``, ``auth``), the case queries (``cases``, ``history``), the rights of the
people scored (``subject``: the access letter; ``purge``: erasing personal values after the retention
period), the one table from errors to HTTP statuses (``http_errors``) and the web pages (``web/``).

May import the platform, ``features`` and ``models``; never ``training``, ``ethics_review``, ``jobs`` or
``synthetic``.
"""

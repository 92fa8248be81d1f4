"""``GET /cases`` and the server-rendered pages, mounted in the BentoML service.

Pages: ``/ui/login`` (a token, once per session), ``/ui/worklist?scan=vw`` for enforcement staff and
``/ui/audits`` and ``/ui/privacy/inzage`` (the access letter of a case's person) for the committee,
``/ui/reexamination`` for staff re-examining cases after a ruling.
Sessions live on the server (``web_sessions``): the cookie holds a random id only, http-only and same-site
strict; forms carry the session's CSRF token, made anew at login. Every answer carries a strict
Content-Security-Policy and the other security headers (``_headers``), so no template has an inline
script or style (``static/``). Every page repeats that a signal is not a decision; staff pages never show
a score, the threshold or anything else that tells a random control case from a signal (``_worklist``).

One router per concern: ``_session`` (login, logout, CSRF, the session-cookie middleware), ``_worklist``
(the worklist and its outcome form), ``_committee`` (the committee page and a version's documents),
``_reexamination`` (the re-examination worklist and its result form), ``_privacy`` (the access letter) and
``_cases`` (the case list API);
``_headers`` is the security-header middleware. ``_state`` hands them the runtime and the authenticator
as FastAPI dependencies, ``_render`` renders the templates, and
``_errors`` answers every error through the table in :mod:`serving.http_errors`.

May import the rest of ``serving``, ``models`` (registry, specs), ``features`` (the register) and the
platform modules in ``riskscan``; only ``serving/service.py`` and the tests import it.
"""

from serving.web._app import build_app

__all__ = ["build_app"]

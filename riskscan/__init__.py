"""riskscan's platform layer, and the command line on top of everything.

The platform modules are imported by every stage and import no stage (an import contract checks it):
``db`` (engines, transactions, the UTC type, ``Base``, migrations, shared validators, the record and
store bases), ``errors`` (the one exceptions module), ``stats`` (``Estimate``, the bootstrap, Wilson,
Katz), ``fmt`` (numbers and intervals for people), ``jsonio``, ``timerange`` (what ``--from/--to`` mean),
``exit_codes``, ``home`` (where state lives), ``cluster`` (where compute lives) and ``migrations/``.

``riskscan.cli`` is the other end: it may import every stage, and nothing imports it.
"""

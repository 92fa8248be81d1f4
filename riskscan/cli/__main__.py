"""``python -m riskscan.cli``: the same as the ``riskscan`` command."""

from riskscan.cli._main import main

raise SystemExit(main())

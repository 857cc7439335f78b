"""``python -m ledgerlake`` is the ``ledgerlake`` command."""

from ledgerlake.cli import main

raise SystemExit(main())

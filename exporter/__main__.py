"""``python -m exporter`` is the same as the ``tenant-exporter`` command."""

from exporter.cli import main

raise SystemExit(main())

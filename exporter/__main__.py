"""``python -m exporter`` is the same as the ``tenant-exporter`` command."""

from exporter.cli.main import main

raise SystemExit(main())

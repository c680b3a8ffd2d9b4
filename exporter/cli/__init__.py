"""The command line: ``tenant-exporter serve | check-config | rules | keys | audit``."""

from exporter.cli.main import main

__all__ = ["main"]

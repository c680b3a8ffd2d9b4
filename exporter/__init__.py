"""tenant-exporter: a Prometheus-native multi-tenant configuration, quota and monitoring service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tenant-exporter")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

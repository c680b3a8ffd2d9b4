"""The composition root: ``create_app`` builds every service and the web.Application, and starts and
stops their background work."""

from exporter.app.composition import create_app

__all__ = ["create_app"]

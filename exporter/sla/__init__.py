"""Availability against targets: probes and their checks, per-day accounting and breaches, the tracker
that keeps them durable, the same figures computed from Prometheus, the Statuspage-shaped status, and
badges."""

"""Harness code the tests share: the service in-process and as a process, real PostgreSQL, Prometheus,
promtool, Alertmanager and Chromium, and helpers that drive them. No test lives here."""

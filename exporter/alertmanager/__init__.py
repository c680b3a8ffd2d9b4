"""Alertmanager both ways: the API client, forwarding in-process alerts, mirroring acknowledgements as
silences, and the webhook receiver's notification log."""

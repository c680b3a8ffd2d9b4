"""The same thresholds and SLOs written out for Prometheus: alerting and recording rule files (and the
other formats ``tenant-exporter rules generate`` writes)."""

"""The thresholds of ``config/monitoring.yml`` evaluated in-process: the config model, the signals and
the PromQL subset they are written in, the rolling window of metric snapshots, the alert state machine
and the engine that advances it, and the health/metrics view the JSON endpoints show."""

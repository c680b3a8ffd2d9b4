"""The leaf everything stands on: the clock, the error hierarchy, durations, strict parsing of untrusted
text, YAML files read with line numbers, and the pacer that gives the event loop back during long work.
Nothing here imports another package of the service."""

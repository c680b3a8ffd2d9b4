"""The tamper-evident audit log: events and the actions the service records, the hash chain and its
checkpoints, the group-committing recorder, queries, export and retention."""

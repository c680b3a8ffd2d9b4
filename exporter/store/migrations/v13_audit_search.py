"""Migration 13: audit search at scale: an index per filter, full-text search in details and target names."""

from __future__ import annotations

from exporter.store.migrations.model import Index, Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        13,
        "audit search: an index per filter, full-text search in details and target names",
        (),
        sqlite_only=(
            # FTS5 over details and target_name, trigram-tokenized so that any substring of three
            # characters or more is indexed (the search is a substring search, as without the index).
            # External content: the text stays in audit_events only; triggers keep the index in step.
            "CREATE VIRTUAL TABLE audit_events_fts USING fts5(details, target_name, content='audit_events', "
            "tokenize='trigram')",
            # Rows that were there before this migration are indexed afterwards, newest first, in small
            # batches (``AuditSqlMixin.fill_search_index``): those with rowid <= pending_upto are not yet.
            """CREATE TABLE audit_search_backfill (
                one INTEGER PRIMARY KEY CHECK (one = 1),
                pending_upto INTEGER NOT NULL
            )""",
            "INSERT INTO audit_search_backfill (one, pending_upto) SELECT 1, COALESCE(MAX(rowid), 0) FROM audit_events",
            """CREATE TRIGGER audit_events_fts_insert AFTER INSERT ON audit_events
            WHEN new.rowid > (SELECT pending_upto FROM audit_search_backfill) BEGIN
                INSERT INTO audit_events_fts (rowid, details, target_name)
                VALUES (new.rowid, new.details, new.target_name);
            END""",
            """CREATE TRIGGER audit_events_fts_delete AFTER DELETE ON audit_events
            WHEN old.rowid > (SELECT pending_upto FROM audit_search_backfill) BEGIN
                INSERT INTO audit_events_fts (audit_events_fts, rowid, details, target_name)
                VALUES ('delete', old.rowid, old.details, old.target_name);
            END""",
            # events are never updated, except by someone tampering (which verify reports): the
            # index still follows, so a search finds what the table holds
            """CREATE TRIGGER audit_events_fts_update AFTER UPDATE OF details, target_name ON audit_events
            WHEN old.rowid > (SELECT pending_upto FROM audit_search_backfill) BEGIN
                INSERT INTO audit_events_fts (audit_events_fts, rowid, details, target_name)
                VALUES ('delete', old.rowid, old.details, old.target_name);
                INSERT INTO audit_events_fts (rowid, details, target_name)
                VALUES (new.rowid, new.details, new.target_name);
            END""",
        ),
        # Every index ends in (time, id): a filter's newest matches are read in order, without a sort.
        # Low-cardinality columns get one index per scope (a tenant's, and every tenant's for operators);
        # actor and target values mostly belong to one tenant, so one index serves both scopes, with
        # tenant_id in it so that other tenants' entries are skipped without reading their rows.
        indexes=(
            Index("audit_events_tenant_action", "(tenant_id, action, time, id)"),
            Index("audit_events_action", "(action, time, id)"),
            Index("audit_events_tenant_outcome", "(tenant_id, outcome, time, id)"),
            Index("audit_events_outcome", "(outcome, time, id)"),
            Index("audit_events_actor_id", "(actor_id, time, id, tenant_id)"),
            Index("audit_events_actor_name", "(actor_name, time, id, tenant_id)"),
            Index("audit_events_target_id", "(target_id, time, id, tenant_id)"),
            Index("audit_events_target_name", "(target_name, time, id, tenant_id)"),
            Index("audit_events_request_id", "(request_id, tenant_id)"),
            # PostgreSQL's substring search: trigrams of the lower-cased text, as the search compares it
            Index("audit_events_text", "", sqlite=False,
                  postgres="USING gin (lower(details) {pg_trgm}.gin_trgm_ops, "
                           "lower(target_name) {pg_trgm}.gin_trgm_ops)"),
        ),
    ),
)

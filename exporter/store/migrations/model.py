"""One schema migration: its SQL for both backends, what only one of them needs, and the indexes on
tables that may already be big, which are ensured apart (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Index:
    """An index on a table that may be big when the migration runs (see the module docstring).

    ``postgres`` replaces ``columns`` on PostgreSQL (e.g. ``USING gin (...)``), where ``{pg_trgm}``
    stands for the schema that holds the pg_trgm extension (created if missing; without it, the
    index is skipped with a warning). ``sqlite=False``: PostgreSQL only.
    """

    name: str
    columns: str
    table: str = "audit_events"
    postgres: str | None = None
    sqlite: bool = True


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    sqlite_only: tuple[str, ...] = ()
    postgres_only: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()

    def for_backend(self, backend: str) -> tuple[str, ...]:
        extra = self.sqlite_only if backend == "sqlite" else self.postgres_only
        return self.statements + extra

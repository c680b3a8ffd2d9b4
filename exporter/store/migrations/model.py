"""One schema migration: its SQL for both backends, and what only one of them needs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    sqlite_only: tuple[str, ...] = ()
    postgres_only: tuple[str, ...] = ()

    def for_backend(self, backend: str) -> tuple[str, ...]:
        extra = self.sqlite_only if backend == "sqlite" else self.postgres_only
        return self.statements + extra

"""What a backend supplies and the SQL mixins build on: rows, and the four primitives of a transaction."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Row = Sequence[Any]


class Tx(Protocol):
    """What a transaction offers: the primitives, inside one atomic unit."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Primitives(Tx, Protocol):
    """A store's primitives: each statement on its own, or several in ``transaction()``."""

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

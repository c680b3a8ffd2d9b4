"""Alert acknowledgements in the store: a mixin for ``SqlStore`` (its queries, written once for both backends).

An acknowledgement is *open* until the evaluator sees its alert end (resolve, or a pending
alert go away), or until the Alertmanager silence that mirrors it ends; then it is *cleared*
and stays as history. At most one open acknowledgement per alert (a partial unique index), so
acknowledging twice, even on two replicas at once, keeps the first. Its silence id is set once
(the first replica to create one wins; a loser expires its own), and ``silence_ended_at`` says
the silence is over, so each silence is expired at most once after its acknowledgement ends.
"""
# ruff: noqa: S608  (f-strings splice the constant column list and "?" marks only; values are bound)

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from exporter.store.primitives import Primitives
from exporter.store.records import AckRecord

_COLUMNS = ("id, alert_id, alertname, tenant_id, key_id, key_name, comment, acknowledged_at, cleared_at, silence_id, "
            "public_message")


class AlertStore(Protocol):
    """The acknowledgement part of the ``Store`` protocol."""

    async def acknowledge_alert(self, record: AckRecord) -> AckRecord:
        """Open ``record`` unless the alert already has an open acknowledgement; return the open one."""
        ...

    async def open_acknowledgements(self) -> list[AckRecord]: ...

    async def clear_acknowledgements(self, alert_ids: Iterable[str], at: float) -> None:
        """Close the open acknowledgements of these alerts (their alerts ended)."""
        ...

    async def clear_acknowledgements_except(self, alert_ids: Iterable[str], at: float) -> None:
        """Close every open acknowledgement whose alert is not among ``alert_ids``."""
        ...

    async def set_acknowledgement_silence(self, ack_id: str, silence_id: str) -> bool:
        """Record the silence of an open acknowledgement that has none yet; False if it has one or ended."""
        ...

    async def end_acknowledgement_by_silence(self, ack_id: str, at: float) -> bool:
        """Close an open acknowledgement because its silence ended (its silence needs no expiring)."""
        ...

    async def silences_to_expire(self) -> list[tuple[str, str]]:
        """``(ack id, silence id)`` of closed acknowledgements whose silence may still be active."""
        ...

    async def mark_silence_ended(self, ack_id: str, at: float) -> None: ...


class AlertsSqlMixin:
    async def acknowledge_alert(self: Primitives, record: AckRecord) -> AckRecord:
        async with self.transaction() as tx:
            await tx.execute(
                f"INSERT INTO alert_acknowledgements ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?) "
                "ON CONFLICT DO NOTHING",
                record.id, record.alert_id, record.alertname, record.tenant_id, record.key_id, record.key_name,
                record.comment, record.acknowledged_at, record.public_message,
            )
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM alert_acknowledgements WHERE alert_id = ? AND cleared_at IS NULL",
                record.alert_id,
            )
        return AckRecord(*rows[0])

    async def open_acknowledgements(self: Primitives) -> list[AckRecord]:
        rows = await self.fetch(
            f"SELECT {_COLUMNS} FROM alert_acknowledgements WHERE cleared_at IS NULL ORDER BY acknowledged_at, id"
        )
        return [AckRecord(*row) for row in rows]

    async def clear_acknowledgements(self: Primitives, alert_ids: Iterable[str], at: float) -> None:
        ids = sorted(set(alert_ids))
        if ids:
            marks = ", ".join("?" for _ in ids)
            await self.execute(
                f"UPDATE alert_acknowledgements SET cleared_at = ? WHERE cleared_at IS NULL AND alert_id IN ({marks})",
                at, *ids,
            )

    async def clear_acknowledgements_except(self: Primitives, alert_ids: Iterable[str], at: float) -> None:
        ids = sorted(set(alert_ids))
        keep = f" AND alert_id NOT IN ({', '.join('?' for _ in ids)})" if ids else ""
        await self.execute(
            f"UPDATE alert_acknowledgements SET cleared_at = ? WHERE cleared_at IS NULL{keep}", at, *ids
        )

    async def set_acknowledgement_silence(self: Primitives, ack_id: str, silence_id: str) -> bool:
        async with self.transaction() as tx:
            await tx.execute(
                "UPDATE alert_acknowledgements SET silence_id = ? "
                "WHERE id = ? AND silence_id IS NULL AND cleared_at IS NULL",
                silence_id, ack_id,
            )
            rows = await tx.fetch("SELECT silence_id FROM alert_acknowledgements WHERE id = ?", ack_id)
        return bool(rows) and rows[0][0] == silence_id

    async def end_acknowledgement_by_silence(self: Primitives, ack_id: str, at: float) -> bool:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "SELECT id FROM alert_acknowledgements WHERE id = ? AND cleared_at IS NULL", ack_id
            )
            if rows:
                await tx.execute(
                    "UPDATE alert_acknowledgements SET cleared_at = ?, silence_ended_at = ? WHERE id = ?",
                    at, at, ack_id,
                )
        return bool(rows)

    async def silences_to_expire(self: Primitives) -> list[tuple[str, str]]:
        rows = await self.fetch(
            "SELECT id, silence_id FROM alert_acknowledgements WHERE cleared_at IS NOT NULL "
            "AND silence_id IS NOT NULL AND silence_ended_at IS NULL ORDER BY cleared_at, id"
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    async def mark_silence_ended(self: Primitives, ack_id: str, at: float) -> None:
        await self.execute(
            "UPDATE alert_acknowledgements SET silence_ended_at = ? WHERE id = ? AND silence_ended_at IS NULL",
            at, ack_id,
        )

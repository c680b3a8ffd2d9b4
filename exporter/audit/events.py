"""Audit events: who did what to which target, when, from where, and with what outcome.

The field set borrows from CloudTrail, Kubernetes audit and OCSF API Activity:

    id, time, tenant_id, actor {type, id, name, role}, action, target {type, id, name},
    outcome {status: success|failure, reason}, request_id, source_ip, user_agent (client-supplied,
    untrusted), details (JSON), schema_version, and the chain fields seq, prev_hash, hash.

Actions are dot-namespaced (``api_key.create``, ``usage.report``, ``config.reload``,
``auth.failure``, ``audit_log.export``; later ``alert.acknowledge``, ``metric.custom.submit``).
Events about the platform rather than one tenant (config reloads, failed logins) belong to the
pseudo-tenant ``_platform``, which no catalog tenant id can be (ids start with a letter or digit).

``to_record()`` builds the stored form; ``audit_recorder.AuditLog`` commits it and
``audit_chain`` seals and verifies it. Secrets never enter a record: ``details`` keys that
name a secret are replaced with ``[redacted]``, and nothing here reads request headers other
than the ones passed in ``RequestContext``.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from exporter.core.parsing import whole
from exporter.store.records import AuditRecord

SCHEMA_VERSION: Final = "1.0"
PLATFORM: Final = "_platform"
UNTRUSTED_FIELDS: Final = ("user_agent",)

_ACTION = whole(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api_key_value|credential", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_DETAILS_BYTES: Final = 16 * 1024
MAX_FIELD_CHARS: Final = 256
REDACTED: Final = "[redacted]"

OutcomeStatus = Literal["success", "failure"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: an API key (id, name, role), the command line (the OS user) or the service."""

    type: Literal["api_key", "cli", "system", "anonymous"]
    id: str
    name: str = ""
    role: str = ""

    @classmethod
    def api_key(cls, key_id: str, name: str, role: str) -> Actor:
        return cls("api_key", key_id, name, role)

    @classmethod
    def cli(cls) -> Actor:
        """The operating-system user running ``tenant-exporter`` (from the uid, not from $USER)."""
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = f"uid:{uid}"
        return cls("cli", user, user)

    @classmethod
    def system(cls, name: str) -> Actor:
        """The service itself, e.g. ``signal:SIGHUP`` or ``retention``."""
        return cls("system", name, name)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous", "")


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: OutcomeStatus = "success"
    reason: str = ""

    @classmethod
    def failure(cls, reason: str) -> Outcome:
        return cls("failure", reason)


SUCCESS: Final = Outcome()


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a request came from. ``user_agent`` and ``request_id`` are what the client sent."""

    request_id: str = ""
    source_ip: str = ""
    user_agent: str = ""


NO_CONTEXT: Final = RequestContext()


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before it is committed: ``record()`` gives it an id, a time and a chain link."""

    tenant_id: str
    action: str
    actor: Actor
    target: Target | None = None
    outcome: Outcome = SUCCESS
    details: Mapping[str, Any] = field(default_factory=dict)
    context: RequestContext = NO_CONTEXT

    def __post_init__(self) -> None:
        if not _ACTION.fullmatch(self.action):
            raise ValueError(f"audit action {self.action!r} must be dot-namespaced lower case, e.g. 'api_key.create'")


def to_record(draft: EventDraft, now: float) -> AuditRecord:
    """The stored form of ``draft`` at time ``now``, not yet sealed into its chain."""
    target = draft.target or Target("", "")
    return AuditRecord(
        tenant_id=draft.tenant_id, seq=0, id=new_event_id(now), time=round(now, 6), action=draft.action,
        actor_type=draft.actor.type, actor_id=_clean(draft.actor.id), actor_name=_clean(draft.actor.name),
        actor_role=draft.actor.role, target_type=_clean(target.type), target_id=_clean(target.id),
        target_name=_clean(target.name), outcome=draft.outcome.status, reason=_clean(draft.outcome.reason, 1024),
        request_id=_clean(draft.context.request_id), source_ip=_clean(draft.context.source_ip),
        user_agent=_clean(draft.context.user_agent), details=details_json(draft.details),
        schema_version=SCHEMA_VERSION, prev_hash="", hash="",
    )


def details_json(details: Mapping[str, Any]) -> str:
    """Canonical JSON (sorted keys, ASCII) of ``details`` with secret-named keys redacted."""
    text = json.dumps(_redact(details), sort_keys=True, separators=(",", ":"), default=str)
    if len(text) > MAX_DETAILS_BYTES:
        text = json.dumps({"truncated": True, "bytes": len(text), "head": text[:1024]}, separators=(",", ":"))
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): REDACTED if _SECRET_KEY.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_redact(v) for v in items]
    return value


def _clean(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """Drop control characters (no forged log lines), bound the length, and keep it UTF-8: header bytes
    that were not UTF-8 reach us as lone surrogates (aiohttp's ``surrogateescape``) and become ``?``."""
    if text.isascii() and text.isprintable():  # the usual case, without a regex
        return text[:limit]
    return _CONTROL.sub("", text.encode("utf-8", "replace").decode("utf-8"))[:limit]


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id(now: float) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, 26 Crockford base-32 characters."""
    value = (int(now * 1000) & (2**48 - 1)) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))

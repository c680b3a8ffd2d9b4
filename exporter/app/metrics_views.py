"""Which families each metrics path serves: ``TENANT_METRICS`` picks the per-tenant families (as
kube-state-metrics' allow list does), ``TENANT_METRICS_PATH`` moves them off ``/metrics``.

Per-tenant groups: ``quota`` (usage and limit per limit: 8 series per tenant, the default) and ``audit``
(each audit chain's checkpoint, signature, oldest event and retention count: up to 5 per tenant with a
chain). A family name picks that family alone; ``none`` turns them all off.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.audit.retention import TENANT_FAMILIES as AUDIT_FAMILIES
from exporter.core.errors import SettingsError
from exporter.settings import Settings
from exporter.telemetry.exposition import View
from exporter.tenancy.metrics import NAMES as QUOTA_FAMILIES
from exporter.tenancy.metrics import QuotaSeries

GROUPS = {"quota": QUOTA_FAMILIES, "audit": frozenset(AUDIT_FAMILIES)}


@dataclass(frozen=True, slots=True)
class TenantFamilies:
    quota: frozenset[str]
    audit: frozenset[str]


def tenant_families(settings: Settings) -> TenantFamilies:
    """The per-tenant families ``TENANT_METRICS`` asks for (a SettingsError names what it does not know)."""
    chosen: set[str] = set()
    for item in settings.tenant_metrics:
        if item in GROUPS:
            chosen |= GROUPS[item]
        elif item in QUOTA_FAMILIES or item in AUDIT_FAMILIES:
            chosen.add(item)
        else:
            known = ", ".join([*GROUPS, *sorted(QUOTA_FAMILIES | set(AUDIT_FAMILIES))])
            raise SettingsError(f"TENANT_METRICS: unknown group or family {item!r} (known: none, {known})")
    return TenantFamilies(frozenset(chosen & QUOTA_FAMILIES), frozenset(chosen & set(AUDIT_FAMILIES)))


def views(settings: Settings, families: TenantFamilies, quota: QuotaSeries) -> tuple[View, ...]:
    """``/metrics``, and the per-tenant path when ``TENANT_METRICS_PATH`` is set."""
    sources = (quota,) if families.quota else ()
    audit_samples = frozenset(f"{name}_total" if name.endswith("_deleted") else name for name in families.audit)
    if settings.tenant_metrics_path is None:
        return (View("/metrics", exclude=frozenset(AUDIT_FAMILIES) - families.audit, sources=sources,
                     source_families=families.quota.__contains__),)
    return (View("/metrics", exclude=frozenset(AUDIT_FAMILIES)),
            View(settings.tenant_metrics_path, registry=bool(families.audit), only=audit_samples, sources=sources,
                 source_families=families.quota.__contains__))

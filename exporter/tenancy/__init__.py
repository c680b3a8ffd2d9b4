"""Tenants and what they may do: the catalog (plans, tenants, regions and the features and limits they
resolve to), loading it from YAML, regional endpoints, usage counting and the quotas and rate limits
enforced on it, and the per-tenant usage metrics."""

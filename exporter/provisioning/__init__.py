"""Changing who the service serves, over the API: tenants created, changed, disabled and deleted, each change
audited with it. (API keys are managed in ``auth/apikeys.py``.)"""

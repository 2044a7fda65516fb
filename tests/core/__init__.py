"""Tests of the package's top-level modules (states, limits, tags, redaction, jsontext, checks,
suggest, version_compat, models, get_provider_info)."""

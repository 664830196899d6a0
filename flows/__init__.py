"""Prefect flows: one file per scheduled job, thin (fetch, call the rules, write)."""

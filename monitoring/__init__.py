"""Milvus alert rules and Grafana dashboards, rendered by pure functions from the stack's settings."""

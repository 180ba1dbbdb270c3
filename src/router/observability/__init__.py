"""Metrics, structured logs and the request id that ties a webhook to its routing."""

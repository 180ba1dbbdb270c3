"""Outbound senders: replies handed to each provider's REST API."""

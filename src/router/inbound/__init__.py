"""Inbound events: the canonical envelope every channel adapter produces."""

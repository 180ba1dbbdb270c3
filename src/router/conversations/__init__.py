"""Conversations: their history, and the changes agents and supervisors make."""

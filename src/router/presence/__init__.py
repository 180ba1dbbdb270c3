"""Agents' presence history: every change kept, readable through the API, published."""

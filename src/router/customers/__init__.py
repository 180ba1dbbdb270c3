"""Customers across channels: who is the same person, linking, merging, the customer API."""

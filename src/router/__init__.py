"""Omnichannel conversation router."""

__version__ = "0.1.0"

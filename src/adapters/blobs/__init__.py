"""Blob stores: where attachment bytes are kept."""

"""Attachments: their bytes in a blob store, their metadata on messages, in and out."""

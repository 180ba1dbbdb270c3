"""The agent console API: my work, one conversation, the actions on it, my presence."""

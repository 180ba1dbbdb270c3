"""Everything that speaks a provider's or a broker's language."""

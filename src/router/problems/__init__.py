"""Problem types: what each error the API answers means, and a page per type."""

"""PostgreSQL: the embedded server used when no database URL is configured."""

"""PostgreSQL implementations of the application's ports."""

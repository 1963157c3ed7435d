"""Storage: the schema, engines for SQLite and PostgreSQL, migrations, and the queries the core needs."""

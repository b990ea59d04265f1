"""PostgreSQL access for tradelane: the asyncpg pool, SQL migrations, and repositories."""

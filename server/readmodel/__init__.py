"""The read models as data: their tables (Piccolo), the Redis query cache and
live channel names, and the row -> response conversions.

Both sides of the read path depend on this package and on nothing of each
other: the projection worker (server/projections) writes the read models and
refreshes the cache; the queries (server/queries) read them. Schema:
server/migrations/0002_read_models.sql.
"""

"""The data layer: SQL, the pool, migrations. Never imports Strawberry."""

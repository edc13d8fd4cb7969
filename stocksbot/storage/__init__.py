"""Storage: database URLs and engines, the schema, the unit of work, repositories, the booking store, migrations."""

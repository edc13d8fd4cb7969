"""Storage: database URLs and engines, models, repositories, the unit of work, migrations."""

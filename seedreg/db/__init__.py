"""The database layer: engines and retries (engines), tables (models, vocabulary), the Alembic schema
(schema), bulk writes (bulk), typed params and tags (keyvalues), and which running runs died (liveness).

Nothing here imports recording, replay, the registry API or the CLI."""

-- Runs once, when the postgres container initialises an empty data
-- directory (docker-entrypoint-initdb.d), in the POSTGRES_DB database.
-- The library is preloaded by the container's command
-- (-c shared_preload_libraries=pg_stat_statements).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

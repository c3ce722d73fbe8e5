-- Runs once, when the postgres volume is empty: the shard databases of compose.yaml's
-- PIXELFLOW_SHARDS (the control database is POSTGRES_DB). `pixelflow migrate` creates the tables.
CREATE DATABASE pixelflow_shard_0 OWNER pixelflow;
CREATE DATABASE pixelflow_shard_1 OWNER pixelflow;

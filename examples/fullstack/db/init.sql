-- Run once, on the first start with an empty db-data volume.
CREATE TABLE IF NOT EXISTS visits (
    id         serial PRIMARY KEY,
    hostname   text NOT NULL,
    visited_at timestamptz NOT NULL DEFAULT now()
);

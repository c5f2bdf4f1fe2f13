-- Up Migration

-- The per-app create rate limit, shared by every process of a deployment (src/apps/create-rate-limit.ts).
-- One row per app that has created with an app key, holding the generic cell rate algorithm's single
-- number: the time by which the app's past creates are paid for (`paid_until`). A create is allowed
-- while that lies at most the burst ahead of now, and moves it one interval on. One statement per
-- create, which row-locks only its own app's row.
-- UNLOGGED: no WAL for a row written on every create. After a crash (or on a replica promoted by a
-- failover) the table is empty, which only gives every app a fresh burst.
CREATE UNLOGGED TABLE create_rate_limits (
  app_id      text PRIMARY KEY,
  paid_until  timestamptz NOT NULL
);

-- Down Migration

DROP TABLE create_rate_limits;

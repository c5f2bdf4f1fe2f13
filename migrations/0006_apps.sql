-- Up Migration

-- An app is a namespace for jobs (jobs.app_id). A row here exists once the app has a key or has
-- had a request signed for it; its signing secrets sign every request made for its jobs. They are
-- kept readable because an HMAC needs the secret itself; `next` is set while a rotation is under way.
CREATE TABLE apps (
  id                      text PRIMARY KEY,
  signing_secret          text NOT NULL,
  signing_secret_next     text,
  created_at              timestamptz NOT NULL DEFAULT now()
);

-- API keys. Only a SHA-256 of each key is stored: keys are 256 random bits, so a fast hash is as
-- safe as a slow one (nothing to brute-force) and lets every request be checked by one index
-- lookup. `key_id` is the public name used to revoke a key. An admin key has no app.
CREATE TABLE api_keys (
  key_id        text PRIMARY KEY,
  app_id        text REFERENCES apps (id),
  is_admin      boolean NOT NULL DEFAULT false,
  key_hash      bytea NOT NULL UNIQUE,
  name          text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  CHECK (is_admin = (app_id IS NULL))
);

-- Down Migration

DROP TABLE api_keys;
DROP TABLE apps;

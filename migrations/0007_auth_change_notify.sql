-- Up Migration

-- API keys and signing secrets are cached by each service process (src/apps/app-keys.ts), so a
-- request does not pay a query to learn who is calling. Any change to these tables, made by the
-- service, the CLI or by hand, sends a NOTIFY in the same transaction; every process drops its
-- cache when it arrives (src/db/change-listener.ts). Statement-level: one notification per change,
-- whatever the number of rows.
CREATE FUNCTION switchyard_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('switchyard_auth_changed', TG_TABLE_NAME);
  RETURN NULL;
END $$;

CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
  FOR EACH STATEMENT EXECUTE FUNCTION switchyard_auth_changed();
CREATE TRIGGER apps_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON apps
  FOR EACH STATEMENT EXECUTE FUNCTION switchyard_auth_changed();

-- Down Migration

DROP TRIGGER apps_changed ON apps;
DROP TRIGGER api_keys_changed ON api_keys;
DROP FUNCTION switchyard_auth_changed();

// SQL for apps and their API keys: one function per statement, each taking the client to run on.
import { named } from '../db/prepared.ts';
import type { SqlClient } from '../db/sql-client.ts';

export interface ApiKeyRow {
  key_id: string;
  app_id: string | null;
  is_admin: boolean;
  name: string;
  created_at: Date;
  revoked_at: Date | null;
}

/** The live (unrevoked) key with this hash. */
export async function findLiveKeyByHash(db: SqlClient, keyHash: Buffer): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query(
    'SELECT key_id, app_id, is_admin, name, created_at, revoked_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
    [keyHash],
  );
  return rows[0];
}

export async function findKeyByHash(db: SqlClient, keyHash: Buffer): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query('SELECT key_id, app_id, is_admin, name, created_at, revoked_at FROM api_keys WHERE key_hash = $1', [keyHash]);
  return rows[0];
}

export async function insertKey(db: SqlClient, key: { keyId: string; appId: string | null; keyHash: Buffer; name: string }): Promise<boolean> {
  const { rows } = await db.query(
    `INSERT INTO api_keys (key_id, app_id, is_admin, key_hash, name) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key_hash) DO NOTHING RETURNING key_id`,
    [key.keyId, key.appId, key.appId === null, key.keyHash, key.name],
  );
  return rows.length === 1;
}

export async function revokeKey(db: SqlClient, keyId: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query(
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE key_id = $1
     RETURNING key_id, app_id, is_admin, name, created_at, revoked_at`,
    [keyId],
  );
  return rows[0];
}

export async function countLiveAdminKeys(db: SqlClient): Promise<number> {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM api_keys WHERE is_admin AND revoked_at IS NULL');
  return rows[0].n;
}

/** Registers an app with a signing secret, unless it exists. */
export async function ensureApp(db: SqlClient, appId: string, signingSecret: string): Promise<void> {
  await db.query('INSERT INTO apps (id, signing_secret) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [appId, signingSecret]);
}

/** Apps that have no row yet get one, each with its own fresh secret (one statement for a batch). */
export async function ensureApps(db: SqlClient, apps: { id: string; signingSecret: string }[]): Promise<void> {
  if (apps.length === 0) return;
  await db.query(
    `INSERT INTO apps (id, signing_secret) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (id) DO NOTHING`,
    [apps.map((app) => app.id), apps.map((app) => app.signingSecret)],
  );
}

export async function findSigningSecrets(db: SqlClient, appIds: string[]): Promise<SigningSecretRow[]> {
  const { rows } = await db.query('SELECT id, signing_secret, signing_secret_next FROM apps WHERE id = ANY($1::text[])', [appIds]);
  return rows;
}

export type SigningSecretRow = { id: string; signing_secret: string; signing_secret_next: string | null };

/** Every app's secrets as stored, to check at start that they are sealed under the current key. */
export async function findAllSigningSecrets(db: SqlClient): Promise<SigningSecretRow[]> {
  const { rows } = await db.query('SELECT id, signing_secret, signing_secret_next FROM apps');
  return rows;
}

export async function lockSigningSecrets(db: SqlClient, appIds: string[]): Promise<SigningSecretRow[]> {
  const { rows } = await db.query('SELECT id, signing_secret, signing_secret_next FROM apps WHERE id = ANY($1::text[]) FOR UPDATE', [appIds]);
  return rows;
}

/** Writes apps' secrets anew (sealed again), one statement for all of them. */
export async function replaceSigningSecrets(db: SqlClient, apps: { id: string; current: string; next: string | null }[]): Promise<void> {
  if (apps.length === 0) return;
  await db.query(
    `UPDATE apps AS a SET signing_secret = u.current, signing_secret_next = u.next
       FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, current, next) WHERE a.id = u.id`,
    [apps.map((app) => app.id), apps.map((app) => app.current), apps.map((app) => app.next)],
  );
}

/** Starts a rotation: requests are signed with both secrets until it is finished. */
export async function setNextSigningSecret(db: SqlClient, appId: string, secret: string): Promise<boolean> {
  const { rows } = await db.query('UPDATE apps SET signing_secret_next = $2 WHERE id = $1 RETURNING id', [appId, secret]);
  return rows.length === 1;
}

/** Finishes a rotation: the next secret becomes the only one. */
export async function promoteNextSigningSecret(db: SqlClient, appId: string): Promise<boolean> {
  const { rows } = await db.query(
    'UPDATE apps SET signing_secret = signing_secret_next, signing_secret_next = NULL WHERE id = $1 AND signing_secret_next IS NOT NULL RETURNING id',
    [appId],
  );
  return rows.length === 1;
}

/**
 * Takes one create from the app's budget: `intervalSeconds` is 1 / rate, `burstSeconds` the burst in
 * the same unit. Returns false, changing nothing, when the budget is spent. A first create inserts
 * the row; every other one updates it in place (HOT: the table's only index is on app_id).
 */
export async function takeCreate(db: SqlClient, appId: string, intervalSeconds: number, burstSeconds: number): Promise<boolean> {
  const { rows } = await db.query(named(
    `INSERT INTO create_rate_limits AS r (app_id, paid_until) VALUES ($1, now() + $2 * interval '1 second')
     ON CONFLICT (app_id) DO UPDATE SET paid_until = GREATEST(r.paid_until, now()) + $2 * interval '1 second'
      WHERE GREATEST(r.paid_until, now()) + $2 * interval '1 second' <= now() + $3 * interval '1 second'
     RETURNING 1`,
    [appId, intervalSeconds, burstSeconds],
  ));
  return rows.length === 1;
}

/** Seconds until the app's next create would be allowed (after takeCreate refused one). */
export async function secondsUntilCreate(db: SqlClient, appId: string, intervalSeconds: number, burstSeconds: number): Promise<number> {
  const { rows } = await db.query(
    `SELECT EXTRACT(EPOCH FROM paid_until + $2 * interval '1 second' - $3 * interval '1 second' - now())::float8 AS wait
       FROM create_rate_limits WHERE app_id = $1`,
    [appId, intervalSeconds, burstSeconds],
  );
  return Math.max(0, rows[0]?.wait ?? 0);
}

// Apps, their API keys and their signing secrets. Keys are random, shown once when made, and stored
// only as a SHA-256; a request's key is hashed and looked up in one indexed query, whose answer is
// kept while a ChangeListener vouches that no key or app changed since (see CachedLookups).
import { createHash, randomBytes } from 'node:crypto';
import type { ChangeListener } from '../db/change-listener.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { ValidationError } from '../model/errors.ts';
import type { Logger } from '../ops/log.ts';
import * as repo from './apps-repository.ts';
import { isSealed, type SecretBox } from './secret-box.ts';

/** Who is calling: an app (acts on its own jobs only) or an admin (acts on every app's jobs). */
export type Caller = { kind: 'admin'; keyId: string } | { kind: 'app'; appId: string; keyId: string };

export interface NewKey {
  keyId: string;
  /** The key itself: shown once, never stored. */
  key: string;
}

const APP_ID = /^[\w.:@\/-]{1,128}$/;

const hashKey = (key: string): Buffer => createHash('sha256').update(key).digest();
const newSecret = (prefix: string) => `${prefix}_${randomBytes(32).toString('base64url')}`;
const newKeyId = () => `key_${randomBytes(8).toString('hex')}`;

// Entries are small; past this many (a flood of distinct keys) the cache starts over.
const CACHE_MAX_ENTRIES = 10_000;

/**
 * Answers of one lookup kept by key, valid while the listener is live and its generation (bumped on
 * every change to api_keys or apps, and on every reconnect) is the one the answer was read under.
 * A lookup that raced with a change is used once but not kept. Without a listener nothing is kept.
 */
class CachedLookups<T> {
  readonly #changes: ChangeListener | undefined;
  readonly #maxAgeMs: number;
  readonly #entries = new Map<string, { value: T; generation: number; at: number }>();

  /**
   * `maxAgeMs` bounds how long an answer is kept even while the listener reports no change: should
   * a notification never arrive (a pooler that drops LISTEN), a revoked key still stops within it.
   */
  constructor(changes: ChangeListener | undefined, maxAgeMs: number) {
    this.#changes = maxAgeMs > 0 ? changes : undefined;
    this.#maxAgeMs = maxAgeMs;
  }

  async get(key: string, load: () => Promise<T>): Promise<T> {
    const found = await this.getMany([key], async () => new Map([[key, await load()]]));
    return found.get(key) as T;
  }

  /** The answers for `keys`; `load` is asked, once, only for those not kept. */
  async getMany(keys: string[], load: (missing: string[]) => Promise<Map<string, T>>): Promise<Map<string, T>> {
    const changes = this.#changes;
    if (!changes?.live) return load(keys);
    const now = Date.now();
    const found = new Map<string, T>();
    const missing: string[] = [];
    for (const key of keys) {
      const hit = this.#entries.get(key);
      if (hit && hit.generation === changes.generation && now - hit.at < this.#maxAgeMs) found.set(key, hit.value);
      else missing.push(key);
    }
    if (missing.length === 0) return found;
    const generation = changes.generation;
    const loaded = await load(missing);
    const keep = changes.live && changes.generation === generation;
    if (keep && this.#entries.size + loaded.size > CACHE_MAX_ENTRIES) this.#entries.clear();
    for (const [key, value] of loaded) {
      found.set(key, value);
      if (keep) this.#entries.set(key, { value, generation, at: now });
    }
    return found;
  }

  /** Drops everything: this process just changed a key or an app, and must not wait for its own NOTIFY. */
  clear(): void {
    this.#entries.clear();
  }
}

export class AppKeys {
  readonly #pool: Pool;
  readonly #callers: CachedLookups<Caller | undefined>;
  readonly #secrets: CachedLookups<string[]>;
  readonly #box: SecretBox | undefined;

  /**
   * `changes` enables caching of key lookups and signing secrets, each answer for at most
   * `cacheSeconds`; without it (or with 0) every call queries. With `box`, signing secrets are
   * stored sealed (SECRETS_ENCRYPTION_KEY); without it, as they are.
   */
  constructor(pool: Pool, changes?: ChangeListener, cacheSeconds = 60, box?: SecretBox) {
    this.#pool = pool;
    this.#callers = new CachedLookups(changes, cacheSeconds * 1000);
    this.#secrets = new CachedLookups(changes, cacheSeconds * 1000);
    this.#box = box;
  }

  /** A new signing secret as it is stored. */
  #stored(secret: string, appId: string): string {
    return this.#box ? this.#box.seal(secret, appId) : secret;
  }

  #revealed(stored: string, appId: string): string {
    if (!isSealed(stored)) return stored;
    if (!this.#box) throw new Error(`app ${appId}'s signing secret is encrypted, and SECRETS_ENCRYPTION_KEY is not set`);
    return this.#box.open(stored, appId);
  }

  /**
   * At start: with a key, seals every signing secret not yet sealed under it (those stored before
   * encryption was turned on, or under a previous key during a rotation); without one, refuses to go
   * on if any secret is sealed, since no request could then be signed.
   */
  async sealAtRest(log: Logger): Promise<void> {
    const box = this.#box;
    const rows = await repo.findAllSigningSecrets(this.#pool);
    const secretsOf = (row: (typeof rows)[number]) => [row.signing_secret, ...(row.signing_secret_next === null ? [] : [row.signing_secret_next])];
    if (!box) {
      if (rows.some((row) => secretsOf(row).some(isSealed))) {
        throw new Error('apps\' signing secrets are encrypted, but SECRETS_ENCRYPTION_KEY is not set: set it (and SECRETS_ENCRYPTION_PREVIOUS_KEYS during a rotation) to the key they were sealed with');
      }
      return;
    }
    const stale = rows.filter((row) => !secretsOf(row).every((secret) => box.sealedWithCurrent(secret))).map((row) => row.id);
    if (stale.length === 0) return;
    const sealed = await inTransaction(this.#pool, async (client) => {
      // Locked and read again: another process starting now may have sealed them already.
      const locked = (await repo.lockSigningSecrets(client, stale)).filter((row) => !secretsOf(row).every((secret) => box.sealedWithCurrent(secret)));
      await repo.replaceSigningSecrets(client, locked.map((row) => ({
        id: row.id,
        current: box.seal(this.#revealed(row.signing_secret, row.id), row.id),
        next: row.signing_secret_next === null ? null : box.seal(this.#revealed(row.signing_secret_next, row.id), row.id),
      })));
      return locked.length;
    });
    this.#secrets.clear();
    if (sealed) log.info({ apps: sealed }, `signing secrets of ${sealed} app(s) sealed under SECRETS_ENCRYPTION_KEY`);
  }

  async authenticate(key: string): Promise<Caller | undefined> {
    const hash = hashKey(key);
    return this.#callers.get(hash.toString('base64'), async () => {
      const row = await repo.findLiveKeyByHash(this.#pool, hash);
      if (!row) return undefined;
      return row.is_admin ? { kind: 'admin', keyId: row.key_id } : { kind: 'app', appId: row.app_id!, keyId: row.key_id };
    });
  }

  /** Registers the app (when new) and makes it a key. */
  async createAppKey(appId: string): Promise<NewKey> {
    if (!APP_ID.test(appId)) throw ValidationError.field('appId', 'must be 1-128 letters, digits or . _ : @ / -');
    const created = { keyId: newKeyId(), key: newSecret('sy') };
    await inTransaction(this.#pool, async (client) => {
      await repo.ensureApp(client, appId, this.#stored(newSecret('whsec'), appId));
      await repo.insertKey(client, { keyId: created.keyId, appId, keyHash: hashKey(created.key), name: appId });
    });
    return created;
  }

  async createAdminKey(name: string, key: string = newSecret('sy_admin')): Promise<NewKey & { created: boolean }> {
    const keyId = newKeyId();
    const created = await repo.insertKey(this.#pool, { keyId, appId: null, keyHash: hashKey(key), name });
    return { keyId, key, created };
  }

  async revoke(keyId: string): Promise<repo.ApiKeyRow | undefined> {
    const revoked = await repo.revokeKey(this.#pool, keyId);
    this.#callers.clear();
    return revoked;
  }

  /**
   * At start: makes sure BOOTSTRAP_ADMIN_KEY exists; on the embedded default without it, makes a
   * development admin key the first time and prints it once, so the first run needs no extra step.
   */
  async bootstrap(options: { bootstrapAdminKey: string | undefined; embedded: boolean }, log: Logger): Promise<void> {
    if (options.bootstrapAdminKey !== undefined) {
      const existing = await repo.findKeyByHash(this.#pool, hashKey(options.bootstrapAdminKey));
      if (existing?.revoked_at) log.warn({ keyId: existing.key_id }, `BOOTSTRAP_ADMIN_KEY names key ${existing.key_id}, which was revoked; it stays revoked`);
      else if (!existing) await this.createAdminKey('bootstrap (BOOTSTRAP_ADMIN_KEY)', options.bootstrapAdminKey);
      return;
    }
    if ((await repo.countLiveAdminKeys(this.#pool)) > 0) {
      log.info('admin key: one exists (shown only when it was made); make another with `npm run cli -- admin create`');
      return;
    }
    if (!options.embedded) {
      log.warn('admin key: none exists; set BOOTSTRAP_ADMIN_KEY or run `npm run cli -- admin create`');
      return;
    }
    const { key, keyId } = await this.createAdminKey('development (first embedded start)');
    // The one deliberate exception to "no secret in a log": a development key on the embedded default,
    // which exists so that the first `npm start` needs no setup step.
    log.warn({ keyId }, `admin key ${keyId} created for development. It is shown this once; keep it: ${key} (or set BOOTSTRAP_ADMIN_KEY to choose your own)`);
  }

  /**
   * The signing secrets of each app (current, then next while rotating), readable, for the executors
   * to sign with. An app that has none yet
   * (an admin may create jobs for any app id) gets one, so every request is signed.
   */
  async signingSecrets(appIds: string[]): Promise<Map<string, string[]>> {
    return this.#secrets.getMany([...new Set(appIds)], async (unique) => {
      let rows = await repo.findSigningSecrets(this.#pool, unique);
      const missing = unique.filter((id) => !rows.some((row) => row.id === id));
      if (missing.length) {
        await repo.ensureApps(this.#pool, missing.map((id) => ({ id, signingSecret: this.#stored(newSecret('whsec'), id) })));
        rows = await repo.findSigningSecrets(this.#pool, unique);
      }
      return new Map(rows.map((row) => [row.id, [row.signing_secret, ...(row.signing_secret_next === null ? [] : [row.signing_secret_next])]
        .map((secret) => this.#revealed(secret, row.id))]));
    });
  }

  /** Starts a rotation: returns the new secret, used alongside the current one until promoted. */
  async startRotation(appId: string): Promise<string | undefined> {
    const secret = newSecret('whsec');
    const started = await repo.setNextSigningSecret(this.#pool, appId, this.#stored(secret, appId));
    this.#secrets.clear();
    return started ? secret : undefined;
  }

  async finishRotation(appId: string): Promise<boolean> {
    const finished = await repo.promoteNextSigningSecret(this.#pool, appId);
    this.#secrets.clear();
    return finished;
  }
}

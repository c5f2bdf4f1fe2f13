// Dashboard sessions: the admin key is presented once, at login, and exchanged for a random session
// id that the browser keeps in an HttpOnly cookie. The cookie is never the key, and the table keeps
// only the id's SHA-256 (migration 0012). Every session carries its own CSRF token, which each form
// posts back. A session lasts SESSION_HOURS, and ends at once when its admin key is revoked.
import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from '../db/pool.ts';

export const SESSION_HOURS = 12;

export interface Session {
  keyId: string;
  csrfToken: string;
}

const hashOf = (id: string) => createHash('sha256').update(id).digest();

export class DashboardSessions {
  readonly #pool: Pool;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  /** Opens a session for an admin key; returns the id to put in the cookie (shown to nobody else). */
  async open(keyId: string): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    // Expired sessions go as new ones come: the table holds only live ones and a day's worth of dead.
    await this.#pool.query(`DELETE FROM dashboard_sessions WHERE expires_at < now() - interval '1 day'`);
    await this.#pool.query(
      `INSERT INTO dashboard_sessions (id_hash, key_id, csrf_token, expires_at) VALUES ($1, $2, $3, now() + make_interval(hours => $4))`,
      [hashOf(id), keyId, csrfToken, SESSION_HOURS],
    );
    return { id, session: { keyId, csrfToken } };
  }

  /** The live session with this id: not expired, and its admin key not revoked. */
  async find(id: string): Promise<Session | undefined> {
    const { rows } = await this.#pool.query(
      `SELECT s.key_id, s.csrf_token FROM dashboard_sessions s JOIN api_keys k ON k.key_id = s.key_id
        WHERE s.id_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL AND k.is_admin`,
      [hashOf(id)],
    );
    return rows[0] && { keyId: rows[0].key_id, csrfToken: rows[0].csrf_token };
  }

  async close(id: string): Promise<void> {
    await this.#pool.query('DELETE FROM dashboard_sessions WHERE id_hash = $1', [hashOf(id)]);
  }
}

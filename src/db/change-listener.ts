// Tells a process when rows it caches changed in the database. A trigger on the cached tables sends
// NOTIFY on CHANNEL in the changing transaction (migration 0007), whoever makes the change (the
// API, the CLI, or SQL typed by hand), and this listener, on a connection of its own, bumps a
// generation number that caches compare against. While the connection is down nothing may be
// served from a cache: `live` is false until LISTEN has been issued again.
import pg from 'pg';
import type { Logger } from '../ops/log.ts';

const CHANGE_CHANNEL = 'switchyard_auth_changed';
const RECONNECT_MS = 1_000;

export class ChangeListener {
  readonly #connectionString: string;
  readonly #log: Logger;
  #client: pg.Client | undefined;
  #generation = 0;
  #live = false;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;

  private constructor(connectionString: string, log: Logger) {
    this.#connectionString = connectionString;
    this.#log = log;
  }

  /** Connects and listens; the returned listener is live unless the first connection failed (it keeps retrying). */
  static async start(connectionString: string, log: Logger): Promise<ChangeListener> {
    const listener = new ChangeListener(connectionString, log);
    await listener.#connect();
    return listener;
  }

  /** Changes whenever the cached tables may have changed, or the listener lost or regained its connection. */
  get generation(): number {
    return this.#generation;
  }

  /** True while a change would reach this process; a cache must not answer otherwise. */
  get live(): boolean {
    return this.#live;
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({ connectionString: this.#connectionString, application_name: 'switchyard-changes' });
    client.on('notification', () => { this.#generation++; });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      this.#client = client;
      // Anything cached before this moment may have missed a change while no one listened.
      this.#generation++;
      this.#live = true;
    } catch (error) {
      this.#lost(client, error as Error);
    }
  }

  #lost(client: pg.Client, error?: Error): void {
    if (this.#client !== undefined && this.#client !== client) return;
    const wasLive = this.#live;
    this.#live = false;
    this.#generation++;
    this.#client = undefined;
    client.end().catch(() => {});
    if (this.#stopped || this.#retry) return;
    if (wasLive) this.#log.warn({ reason: error?.message }, `change listener: connection lost${error ? ` (${error.message})` : ''}; caches are off until it is back`);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#connect();
    }, RECONNECT_MS);
    this.#retry.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#live = false;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}

// Chooses the database once from config: DATABASE_URL when set, else the embedded server.
import type { Config } from '../config/config.ts';
import { silentLogger, type Logger } from '../ops/log.ts';

export interface Database {
  connectionString: string;
  embedded: boolean;
  /** Stops the embedded server when this process started it; nothing for an external database. */
  close(): Promise<void>;
}

export async function openDatabase(config: Config, log: Logger = silentLogger): Promise<Database> {
  if (config.databaseUrl) {
    return { connectionString: config.databaseUrl, embedded: false, close: async () => {} };
  }
  // Loaded only here: a service given DATABASE_URL never needs the embedded server's package.
  const { startEmbeddedPostgres } = await import('./embedded.ts');
  const server = await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort, { log: (message) => log.info(message) });
  return { connectionString: server.connectionString, embedded: true, close: () => server.stop() };
}

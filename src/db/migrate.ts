// Migrations are plain SQL files in migrations/, applied in name order by node-pg-migrate at every
// start (a no-op when up to date) and by `npm run migrate`. An advisory lock keeps two starting
// processes from applying the same migration twice.
import { runner } from 'node-pg-migrate';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Logger } from '../ops/log.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export async function migrate(databaseUrl: string, log: Logger = silentLogger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'switchyard_migrations',
    checkOrder: true,
    log: () => {},
    logger: { debug: () => {}, info: () => {}, warn: (message) => log.warn(message), error: (message) => log.error(message) },
  });
  return applied.map((migration) => migration.name);
}

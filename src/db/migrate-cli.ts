// `npm run migrate`: apply pending migrations to DATABASE_URL, or to the embedded database.
import { loadConfig } from '../config/config.ts';
import { openDatabase } from './database.ts';
import { migrate } from './migrate.ts';
import { createLogger } from '../ops/log.ts';

const config = loadConfig();
const database = await openDatabase(config);
try {
  const applied = await migrate(database.connectionString, await createLogger({ level: 'warn', pretty: process.stdout.isTTY }));
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'migrations: up to date');
} finally {
  await database.close();
}

// The migrate Lambda function, invoked once per deploy (`npm run deploy`) and by no schedule: it
// applies the SQL migrations, lets pg-boss install its schema and create the lanes' queues, and makes
// sure BOOTSTRAP_ADMIN_KEY exists. No other function migrates anything; they refuse to start on a
// pg-boss schema that is missing or out of date.
import { migrate } from '../db/migrate.ts';
import { assembleSwitchyard } from '../assembly.ts';
import { jsonLogger } from '../ops/log.ts';
import { loadFunctionConfig } from './runtime.ts';

export interface MigrateResult {
  applied: string[];
}

export async function handler(): Promise<MigrateResult> {
  const config = await loadFunctionConfig();
  const log = jsonLogger(config.logLevel);
  // migrations/ sits beside src/ in this function's package (serverless.yml includes it), where
  // migrate.ts finds it relative to the bundle, as it does relative to the sources.
  const applied = await migrate(config.databaseUrl, log);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await assembleSwitchyard(config, config.databaseUrl, {
      log,
      cleanups,
      lanesOnServicePool: true,
      maintainLanes: true,
      listenForChanges: false,
      bootstrap: { embedded: false },
    });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log.error({ reason: (error as Error).message }, `migrate: ${(error as Error).message}`));
  }
  log.info({ applied }, applied.length ? `migrate: applied ${applied.join(', ')}` : 'migrate: up to date');
  return { applied };
}

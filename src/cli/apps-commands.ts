// `switchyard apps …`, `admin create` and `migrate`: the commands that bootstrap a deployment, so
// they talk to the database directly (there may be no key to call the service with yet). Keys and
// secrets are printed once, here, and never stored readable (signing secrets excepted: an HMAC
// needs the secret itself).
import { AppKeys } from '../apps/app-keys.ts';
import { SecretBox } from '../apps/secret-box.ts';
import { loadConfig, type Config } from '../config/config.ts';
import { openDatabase, type Database } from '../db/database.ts';
import { runningEmbeddedPostgres } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { createPool } from '../db/pool.ts';
import { silentLogger } from '../ops/log.ts';
import { standardWebhooksSecret } from '../signature.ts';
import { CliError, EXIT, type Output } from './output.ts';

/**
 * What a receiver verifies with: the secret itself for Switchyard-Signature, and the key derived
 * from it for the Standard Webhooks headers (current first, then next while rotating).
 */
function receiverSecrets(secrets: string[], labels = ['current', 'next']): string {
  return [
    'Switchyard-Signature secret (verifySignature from switchyard/signature):',
    ...secrets.map((secret, index) => `  ${labels[index]}: ${secret}`),
    'Standard Webhooks secret (webhook-signature; any standardwebhooks library):',
    ...secrets.map((secret, index) => `  ${labels[index]}: ${standardWebhooksSecret(secret)}`),
  ].join('\n');
}

async function connect(config: Config): Promise<Database> {
  // A running Switchyard owns the embedded server; a second start would stop it.
  const running = config.databaseUrl ? undefined : runningEmbeddedPostgres(config.dataDir);
  if (running) return { connectionString: running, embedded: true, close: async () => {} };
  return openDatabase(config);
}

export async function migrateDatabase(output: Output): Promise<number> {
  const database = await connect(loadConfig());
  try {
    const applied = await migrate(database.connectionString);
    output.out(output.json ? JSON.stringify({ applied }) : applied.length ? `applied ${applied.join(', ')}` : 'the database is up to date');
    return EXIT.ok;
  } finally {
    await database.close();
  }
}

export async function appsCommand(output: Output, group: string, command: string, argument: string | undefined): Promise<number> {
  const config = loadConfig();
  const database = await connect(config);
  const pool = createPool(database.connectionString, { log: silentLogger, max: 2 });
  const show = (fields: Record<string, unknown>, text: string) => output.out(output.json ? JSON.stringify(fields, null, 2) : text);
  try {
    await migrate(database.connectionString);
    // The same key as the service: secrets are sealed when made and opened when shown.
    const { secretsEncryption: encryption } = config;
    const keys = new AppKeys(pool, undefined, 0, encryption && new SecretBox(encryption.key, encryption.previousKeys));
    switch (`${group} ${command}`) {
      case 'apps create': {
        const { keyId, key } = await keys.createAppKey(argument!);
        const [secret] = (await keys.signingSecrets([argument!])).get(argument!)!;
        show({ appId: argument, keyId, key, signingSecret: secret, standardWebhooksSecret: standardWebhooksSecret(secret!) },
          `app ${argument}\nkey id:          ${keyId}\napi key:         ${key}   (shown once; store it now)\n${receiverSecrets([secret!])}`);
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
        show({
          appId: argument, current: secrets[0], next: secrets[1] ?? null,
          standardWebhooks: { current: standardWebhooksSecret(secrets[0]!), next: secrets[1] ? standardWebhooksSecret(secrets[1]) : null },
        }, receiverSecrets(secrets));
        return EXIT.ok;
      }
      case 'apps rotate-secret': {
        await keys.signingSecrets([argument!]);
        const next = await keys.startRotation(argument!);
        show({ appId: argument, next, standardWebhooksNext: standardWebhooksSecret(next!) },
          `next secret, in both forms:\n${receiverSecrets([next!], ['next'])}\nrequests now carry signatures with both secrets; give these to the receivers, then run apps finish-rotation ${argument}`);
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

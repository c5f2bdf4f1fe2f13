// Checks a request a target received the way a receiver would: against the app's signing secrets.
import { AppKeys } from '../../src/apps/app-keys.ts';
import type { Pool } from '../../src/db/pool.ts';
import { verifySignature } from '../../src/signature.ts';
import type { ReceivedRequest } from './target.ts';

export async function verifyAsReceiver(pool: Pool, appId: string, targetUrl: string, received: ReceivedRequest) {
  const secrets = (await new AppKeys(pool).signingSecrets([appId])).get(appId)!;
  return verifySignature(received.headers['switchyard-signature'], {
    method: received.method, url: targetUrl + received.url, body: received.body,
  }, { secret: secrets });
}

// Apps' signing secrets at rest: sealed with AES-256-GCM under SECRETS_ENCRYPTION_KEY, so a copy of
// the database (a backup, a replica, a leaked dump) does not hold them readable. The key itself is
// never stored; what is stored names it by a hash, so a row sealed under a previous key (during a
// rotation) is opened with that key. The app's id is bound in as associated data: a sealed secret
// copied onto another app's row does not open.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'sy-enc:v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The name a key goes by in what it sealed: not the key, and not enough to find it. */
const keyIdOf = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 16);
const associatedData = (appId: string) => Buffer.from(`switchyard apps signing secret\n${appId}`);

/** Whether a stored value is sealed (else it is a secret stored before encryption was turned on). */
export const isSealed = (stored: string) => stored.startsWith(`${PREFIX}:`);

export class SecretBox {
  readonly #current: Buffer;
  readonly #currentId: string;
  readonly #keys: Map<string, Buffer>;

  /** `previous` keys only open what they sealed, while a rotation re-seals it under `current`. */
  constructor(current: Buffer, previous: Buffer[] = []) {
    for (const key of [current, ...previous]) if (key.length !== 32) throw new Error('an AES-256 key is 32 bytes');
    this.#current = current;
    this.#currentId = keyIdOf(current);
    this.#keys = new Map([...previous, current].map((key) => [keyIdOf(key), key]));
  }

  seal(secret: string, appId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#current, iv).setAAD(associatedData(appId));
    const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return [PREFIX, this.#currentId, iv.toString('base64url'), sealed.toString('base64url')].join(':');
  }

  open(stored: string, appId: string): string {
    const [, , keyId, iv, sealed] = stored.split(':');
    const key = this.#keys.get(keyId ?? '');
    if (!key) throw new Error(`app ${appId}'s signing secret is sealed under a key that is neither SECRETS_ENCRYPTION_KEY nor in SECRETS_ENCRYPTION_PREVIOUS_KEYS`);
    const bytes = Buffer.from(sealed ?? '', 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv ?? '', 'base64url')).setAAD(associatedData(appId));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  }

  /** Whether a stored value is already sealed under the current key (nothing to do at start). */
  sealedWithCurrent(stored: string): boolean {
    return isSealed(stored) && stored.split(':')[2] === this.#currentId;
  }
}

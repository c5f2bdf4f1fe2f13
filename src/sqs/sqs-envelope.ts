// What an SQS message carries: the unified message with the metadata needed to run it without the
// database (mode=sqs writes nothing to Postgres), and to hand it to the DB lane if it fails. A message
// is checked against the same schema as a create request, so one that create would refuse is
// rejected here (recorded, never run), whoever sent it.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppId, IdempotencyKey, MAX_ATTEMPTS, Message, MessageGroupId, Mode, RetryOverride } from '../model/message-schema.ts';
import type { RetryPolicy } from '../jobs/retry-policy.ts';
import type { TraceContext } from '../ops/trace.ts';

/** SQS's limit on a message body, in bytes of UTF-8. */
export const MAX_SQS_MESSAGE_BYTES = 256 * 1024;

export const SqsEnvelope = z.strictObject({
  jobId: z.uuid(),
  appId: AppId,
  mode: Mode.exclude(['db']),
  /** The attempt the message stands for when it was sent; SQS re-deliveries add to it. */
  attempt: z.int().min(1).max(MAX_ATTEMPTS),
  createdAt: z.iso.datetime({ offset: true }),
  messageGroupId: MessageGroupId.nullable(),
  idempotencyKey: IdempotencyKey.nullable(),
  maxAttempts: z.int().min(1).max(MAX_ATTEMPTS),
  retryPolicy: RetryOverride.pick({ baseDelaySeconds: true, maxDelaySeconds: true }).required(),
  message: Message,
  /** The W3C trace context the job was created in (optional: messages sent before it was carried lack it). */
  trace: z.strictObject({ traceparent: z.string().max(64), tracestate: z.string().max(512).nullable() }).optional(),
});
export type SqsEnvelope = z.infer<typeof SqsEnvelope>;

export interface EnvelopeInput {
  jobId: string;
  appId: string;
  mode: 'sqs' | 'both';
  createdAt: Date;
  messageGroupId: string | null;
  idempotencyKey: string | null;
  policy: RetryPolicy;
  message: Message;
  trace: TraceContext;
}

export function buildEnvelope(input: EnvelopeInput): SqsEnvelope {
  return {
    jobId: input.jobId,
    appId: input.appId,
    mode: input.mode,
    attempt: 1,
    createdAt: input.createdAt.toISOString(),
    messageGroupId: input.messageGroupId,
    idempotencyKey: input.idempotencyKey,
    maxAttempts: input.policy.maxAttempts,
    retryPolicy: { baseDelaySeconds: input.policy.baseDelaySeconds, maxDelaySeconds: input.policy.maxDelaySeconds },
    // Always present, as it is when a mode=both job is sent from its row: the size measured at
    // create is then the size sent.
    message: { ...input.message, metadata: input.message.metadata ?? {} },
    trace: input.trace,
  };
}

/**
 * The message body: the envelope as JSON, with U+FFFE, U+FFFF and every character past U+FFFF
 * written as \u escapes, which JSON.parse turns back into the same text. SQS refuses the first two
 * in a body, and JSON.stringify writes them raw; fauxqs, the emulator the tests run against, refuses
 * the others too (SQS itself takes them), and escaped they cost 12 bytes instead of 4.
 */
export function envelopeBody(envelope: SqsEnvelope): string {
  return JSON.stringify(envelope).replace(/[\ufffe\uffff]|[\ud800-\udbff][\udc00-\udfff]/g, (chars) =>
    Array.from({ length: chars.length }, (_, unit) => `\\u${chars.charCodeAt(unit).toString(16)}`).join(''));
}

/** The SQS FIFO group: the caller's message group, else the app, so an app's jobs keep their order. */
export const sqsGroupOf = (envelope: Pick<SqsEnvelope, 'messageGroupId' | 'appId'>) => envelope.messageGroupId ?? envelope.appId;

/**
 * SQS deduplicates on this within its five-minute window, across the whole queue. A mode=sqs job has
 * nothing else to deduplicate on, so its idempotency key, hashed together with its app, is the id:
 * two apps using the same key never drop each other's message, and any key fits SQS's rules for the
 * id (at most 128 of its characters). Without a key, the job id. A mode=both job's key was already
 * settled by its row's unique index, and the message must carry that row's job: keyed on its job id,
 * a mode=sqs message with the same key sent just before cannot make SQS drop it.
 */
export function deduplicationIdOf(envelope: Pick<SqsEnvelope, 'mode' | 'appId' | 'idempotencyKey' | 'jobId'>): string {
  if (envelope.mode === 'both' || envelope.idempotencyKey === null) return envelope.jobId;
  // appId cannot hold a newline, so app and key cannot run into each other.
  return createHash('sha256').update(`${envelope.appId}\n${envelope.idempotencyKey}`).digest('hex');
}

export type ParsedMessage = { ok: true; envelope: SqsEnvelope } | { ok: false; reason: string };

/** Never throws: a body that is not an envelope comes back with the reason, to be recorded. */
export function parseEnvelope(body: string): ParsedMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    // Not JSON.parse's message: it quotes the body, which may carry a job's credentials, into the log.
    return { ok: false, reason: 'the body is not JSON' };
  }
  const result = SqsEnvelope.safeParse(json);
  if (!result.success) {
    return { ok: false, reason: result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ') };
  }
  return { ok: true, envelope: result.data };
}

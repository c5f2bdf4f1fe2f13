// What an SQS message carries: the unified message with the metadata needed to run it without the
// database (mode=sqs writes nothing to Postgres), and to hand it to the DB lane if it fails.
import { z } from 'zod';
import { Message, Mode } from '../model/message-schema.ts';
import type { RetryPolicy } from '../jobs/retry-policy.ts';
import type { TraceContext } from '../ops/trace.ts';

export const SqsEnvelope = z.strictObject({
  jobId: z.uuid(),
  appId: z.string().min(1),
  mode: Mode.exclude(['db']),
  /** The attempt the message stands for when it was sent; SQS re-deliveries add to it. */
  attempt: z.int().min(1),
  createdAt: z.iso.datetime({ offset: true }),
  messageGroupId: z.string().min(1).nullable(),
  idempotencyKey: z.string().min(1).nullable(),
  maxAttempts: z.int().min(1),
  retryPolicy: z.strictObject({ baseDelaySeconds: z.int().min(1), maxDelaySeconds: z.int().min(1) }),
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
    message: input.message,
    trace: input.trace,
  };
}

/** The SQS FIFO group: the caller's message group, else the app, so an app's jobs keep their order. */
export const sqsGroupOf = (envelope: Pick<SqsEnvelope, 'messageGroupId' | 'appId'>) => envelope.messageGroupId ?? envelope.appId;

/**
 * SQS deduplicates on this within its five-minute window. A mode=sqs job has nothing else to
 * deduplicate on, so its idempotency key (else its job id) is the id. A mode=both job's key was
 * already settled by its row's unique index, and the message must carry that row's job: keyed on
 * its job id, a mode=sqs message with the same key sent just before cannot make SQS drop it.
 */
export const deduplicationIdOf = (envelope: Pick<SqsEnvelope, 'mode' | 'idempotencyKey' | 'jobId'>) =>
  envelope.mode === 'both' ? envelope.jobId : envelope.idempotencyKey ?? envelope.jobId;

export type ParsedMessage = { ok: true; envelope: SqsEnvelope } | { ok: false; reason: string };

/** Never throws: a body that is not an envelope comes back with the reason, to be recorded. */
export function parseEnvelope(body: string): ParsedMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return { ok: false, reason: `the body is not JSON: ${(error as Error).message}` };
  }
  const result = SqsEnvelope.safeParse(json);
  if (!result.success) {
    return { ok: false, reason: result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ') };
  }
  return { ok: true, envelope: result.data };
}

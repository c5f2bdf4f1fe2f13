// How a job looks from outside: the response schema of the read routes (also the OpenAPI
// description of them) and the mapping from a jobs row to it, with secrets taken out.
import { z } from 'zod';
import { REDACTED, SECRET_HEADER } from '../executors/redact.ts';
import type { AttemptRow } from '../jobs/attempt-repository.ts';
import type { JobRow } from '../jobs/job-repository.ts';
import { Mode } from '../model/message-schema.ts';

export const JOB_STATUSES = ['pending', 'running', 'retrying', 'completed', 'failed', 'dead_lettered', 'cancelled', 'scheduled'] as const;
export const JobStatusSchema = z.enum(JOB_STATUSES);

const timestamp = z.iso.datetime();
const iso = (value: Date | null) => (value === null ? null : value.toISOString());

export const JobView = z.object({
  id: z.uuid(),
  appId: z.string(),
  mode: Mode,
  executionType: z.string(),
  status: JobStatusSchema,
  attempts: z.int().min(0),
  maxAttempts: z.int().min(1),
  retryPolicy: z.object({ baseDelaySeconds: z.number(), maxDelaySeconds: z.number() }),
  messageGroupId: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  scheduleArn: z.string().nullable(),
  runAt: timestamp.nullable(),
  nextRetryAt: timestamp.nullable(),
  lastError: z.string().nullable(),
  lastResponse: z.object({ status: z.int(), durationMs: z.number(), body: z.string(), truncated: z.boolean() }).loose().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
  startedAt: timestamp.nullable(),
  completedAt: timestamp.nullable(),
  message: z.object({
    lambdaProxyMessage: z.record(z.string(), z.unknown()),
    execution: z.record(z.string(), z.unknown()),
    metadata: z.record(z.string(), z.unknown()),
  }),
  /** The W3C traceparent its attempts are sent in (the one it was created with, or a fresh one). */
  traceparent: z.string().nullable(),
  /** Legacy: 'callback-http' for jobs made by POST /v1/jobs/callback-http, with the request it was given. */
  type: z.string().nullable(),
  payload: z.unknown(),
});
export type JobView = z.infer<typeof JobView>;

export const JobPage = z.object({
  jobs: z.array(JobView),
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type JobPage = z.infer<typeof JobPage>;

export const AttemptView = z.object({
  /** 1 for the first attempt; it starts at 1 again after a retry by hand. */
  attempt: z.int().min(1),
  lane: z.enum(['db', 'sqs', 'scheduler']),
  startedAt: timestamp.nullable(),
  finishedAt: timestamp,
  /** What the attempt made of the job; `lost`: its worker died before recording; `abandoned`: the service gave it up. */
  outcome: z.enum(['completed', 'retrying', 'failed', 'dead_lettered', 'lost', 'abandoned']),
  /** The target's HTTP status (or a function's), when it answered. */
  httpStatus: z.int().nullable(),
  durationMs: z.int().nullable(),
  /** Why it failed, secrets redacted. */
  error: z.string().nullable(),
});
export type AttemptView = z.infer<typeof AttemptView>;

export const AttemptList = z.object({ jobId: z.uuid(), attempts: z.array(AttemptView) });
export type AttemptList = z.infer<typeof AttemptList>;

export function toAttemptView(row: AttemptRow): AttemptView {
  return {
    attempt: row.attempt,
    lane: row.lane,
    startedAt: iso(row.started_at),
    finishedAt: row.finished_at.toISOString(),
    outcome: row.outcome,
    httpStatus: row.http_status,
    durationMs: row.duration_ms,
    error: row.error,
  };
}

const HEADER_MAPS = new Set(['headers', 'multivalueheaders']);

/**
 * Copies `value`, replacing the values of secret-looking headers in every header map inside it
 * (lambdaProxyMessage.headers and multiValueHeaders, execution.headers, a schedule's target
 * execution, a legacy payload's headers). The stored job keeps them: the executor needs them.
 */
function redactHeaders(value: unknown, inHeaderMap = false): unknown {
  if (Array.isArray(value)) return value.map((item) => redactHeaders(item));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => {
    if (inHeaderMap && SECRET_HEADER.test(key)) return [key, Array.isArray(inner) ? inner.map(() => REDACTED) : REDACTED];
    return [key, redactHeaders(inner, !inHeaderMap && HEADER_MAPS.has(key.toLowerCase()))];
  }));
}

export function toJobView(row: JobRow): JobView {
  return {
    id: row.id,
    appId: row.app_id,
    mode: row.mode as JobView['mode'],
    executionType: row.execution_type,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    retryPolicy: row.retry_policy,
    messageGroupId: row.message_group_id,
    idempotencyKey: row.idempotency_key,
    scheduleArn: row.schedule_arn,
    runAt: iso(row.run_at),
    nextRetryAt: iso(row.next_retry_at),
    lastError: row.last_error,
    lastResponse: (row.last_response ?? null) as JobView['lastResponse'],
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    startedAt: iso(row.started_at),
    completedAt: iso(row.completed_at),
    message: {
      lambdaProxyMessage: redactHeaders(row.lambda_proxy_message) as Record<string, unknown>,
      execution: redactHeaders(row.execution_config) as Record<string, unknown>,
      metadata: row.metadata,
    },
    traceparent: row.traceparent ?? null,
    type: row.type,
    payload: redactHeaders(row.payload ?? null),
  };
}

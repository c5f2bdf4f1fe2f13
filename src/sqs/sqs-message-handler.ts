// What the poller does with one SQS message: read it, run it through the executors (or hand it to
// the DB lane behind an earlier job of its group), record the outcome, and only then delete it.
// Any step may crash; the message then comes back after its visibility timeout, and the record
// decides whether it still needs to run (see docs/sqs-lane.md).
import type { Config } from '../config/config.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import type { SqlClient } from '../db/sql-client.ts';
import type { Outcome, SigningSecretsLookup } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import { claimAttempts, handOver, settleAttempts } from '../jobs/attempt-repository.ts';
import { observeAttempt } from '../jobs/attempt-log.ts';
import { alertInBackground, type DeadLetterNotifier } from '../jobs/dead-letter-alerts.ts';
import { backoffAfter, continueInDbLane, type CarriedJob } from '../jobs/job-preparation.ts';
import type { Metrics } from '../ops/metrics.ts';
import { freshTraceContext } from '../ops/trace.ts';
import * as repo from '../jobs/job-repository.ts';
import { allowedAttempts, attemptStatus, wasAbandoned } from '../jobs/retry-policy.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import type { Logger } from '../ops/log.ts';
import { parseEnvelope, type SqsEnvelope } from './sqs-envelope.ts';
import type { MessageLane, ReceivedMessage } from './sqs-lane.ts';
import { insertRejectedMessage } from './sqs-repository.ts';

export type MessageResult = 'completed' | 'handedOver' | 'failed' | 'deadLettered' | 'rejected' | 'skipped';

export interface MessageHandlerDeps {
  config: Config;
  pool: Pool;
  dbLane: DbLane;
  lane: MessageLane;
  executors: ExecutorRegistry;
  visibilityTimeoutSeconds: number;
  signingSecrets: SigningSecretsLookup;
  notifier: DeadLetterNotifier;
  /** The service's stop: aborts a running attempt once the stop's bound has run out. */
  signal: AbortSignal;
  log: Logger;
  onStaleSettle: (lane: 'sqs', jobIds: string[]) => void;
  metrics?: Metrics;
}

const TERMINAL: repo.JobStatus[] = ['completed', 'failed', 'dead_lettered', 'cancelled'];

export async function handleMessage(deps: MessageHandlerDeps, message: ReceivedMessage): Promise<MessageResult> {
  const parsed = parseEnvelope(message.body);
  if (!parsed.ok) {
    await insertRejectedMessage(deps.pool, { messageId: message.messageId, body: message.body, error: parsed.reason, groupId: message.groupId });
    deps.log.warn({ messageId: message.messageId, reason: parsed.reason }, `sqs message ${message.messageId} rejected: ${parsed.reason}`);
    await deps.lane.delete(message.receiptHandle);
    return 'rejected';
  }
  const envelope = parsed.envelope;
  const attempt = envelope.attempt + message.receiveCount - 1;
  const existing = await repo.findJob(deps.pool, envelope.jobId);

  // A mode=sqs job has a row only once it was handed over or ended badly: this is a redelivery of a
  // message whose outcome is already recorded. A mode=both job without its row cannot be run safely.
  if (envelope.mode === 'sqs' && existing) return done(deps, message, 'skipped');
  if (envelope.mode === 'both' && !existing) {
    await insertRejectedMessage(deps.pool, { messageId: message.messageId, body: message.body, error: `job ${envelope.jobId} has no jobs row`, groupId: message.groupId });
    return done(deps, message, 'rejected');
  }
  // Ended, or no longer the SQS lane's: once handed to the DB lane a job is run there only, so a
  // message SQS delivers again after the hand-over (a crash before its delete) is let go.
  if (existing && (existing.lane !== 'sqs' || TERMINAL.includes(existing.status))) return done(deps, message, 'skipped');

  if (envelope.messageGroupId !== null && await deps.dbLane.holdsGroup(deps.pool, envelope.messageGroupId)) {
    const handedOver = await inTransaction(deps.pool, async (client) => {
      if (envelope.mode === 'sqs' ? !await insertFromEnvelope(client, envelope, 'db') : !await handOver(client, envelope.jobId, 'sqs', 'db')) return false;
      await deps.dbLane.send(client, continueInDbLane(carried(envelope, existing?.abandoned_attempts ?? 0), attempt - 1, undefined, deps.config.defaultTimeoutMs));
      return true;
    });
    if (!handedOver) return envelope.mode === 'sqs' ? duplicateKey(deps, message, envelope) : done(deps, message, 'skipped');
    deps.log.info({ jobId: envelope.jobId, appId: envelope.appId, groupId: envelope.messageGroupId }, `job ${envelope.jobId} follows its group ${envelope.messageGroupId} into the DB lane`);
    return done(deps, message, 'handedOver');
  }

  let abandonedBefore = 0;
  if (envelope.mode === 'both') {
    const { runnable, exhausted } = await claimAttempts(deps.pool, 'sqs', [{ id: envelope.jobId, attempt }]);
    if (exhausted.length) {
      const [row] = exhausted;
      alertInBackground(deps.notifier, { id: row!.id, appId: row!.app_id, executionType: row!.execution_type, attempts: row!.attempts, lastError: row!.last_error }, deps.log);
      return done(deps, message, 'deadLettered');
    }
    if (runnable.length === 0) return done(deps, message, 'skipped');
    abandonedBefore = runnable[0]!.abandoned_attempts;
  }

  const startedAt = new Date();
  const allowed = allowedAttempts(envelope.maxAttempts, abandonedBefore);
  const outcome: Outcome = attempt > allowed
    ? { kind: 'fail', reason: `the consumer running attempt ${attempt - 1} of ${envelope.maxAttempts} was lost` }
    : await executeKeepingVisible(deps, message, envelope, attempt);
  const abandoned = wasAbandoned(outcome, deps.signal);
  const status = attempt > allowed ? 'dead_lettered' : attemptStatus(outcome, attempt, allowed, abandoned);
  const observe = () => observeAttempt(deps, {
    jobId: envelope.jobId, appId: envelope.appId, lane: 'sqs', type: envelope.message.execution.type, attempt, maxAttempts: envelope.maxAttempts, status, outcome,
    // A first delivery was due when the job was created; a redelivery's due time SQS does not tell.
    startedAt, dueAt: attempt === 1 ? new Date(envelope.createdAt) : undefined,
  });

  if (status === 'completed' && envelope.mode === 'sqs') {
    observe();
    return done(deps, message, 'completed');
  }
  const recorded = await inTransaction(deps.pool, async (client) => {
    if (envelope.mode === 'sqs') {
      if (!await insertFromEnvelope(client, envelope, 'sqs')) return 'duplicate' as const;
      // A delivery past the last attempt (its consumer was lost) is dead-lettered by the claim itself.
      const { exhausted } = await claimAttempts(client, 'sqs', [{ id: envelope.jobId, attempt }]);
      if (exhausted.length) return 'recorded' as const;
    }
    const nextRetryAt = status !== 'retrying' ? null : abandoned ? new Date() : backoffAfter(carried(envelope, 0), attempt);
    const settled = await settleAttempts(client, [{
      id: envelope.jobId,
      attempt,
      lane: 'sqs',
      startedAt,
      status,
      abandoned,
      lastError: outcome.kind === 'ok' ? null : outcome.reason,
      lastResponse: outcome.response ?? null,
      nextRetryAt,
      // A failure worth retrying carries on in the DB lane, with its attempts counted.
      nextLane: status === 'retrying' ? 'db' : undefined,
    }]);
    if (!settled.has(envelope.jobId)) return 'stale' as const;
    if (status === 'retrying') {
      const after = carried(envelope, abandonedBefore + (abandoned ? 1 : 0));
      await deps.dbLane.send(client, continueInDbLane(after, attempt, nextRetryAt!, deps.config.defaultTimeoutMs));
    }
    return 'recorded' as const;
  });
  if (recorded === 'duplicate') return duplicateKey(deps, message, envelope);
  if (recorded === 'stale') {
    deps.onStaleSettle('sqs', [envelope.jobId]);
    return done(deps, message, 'skipped');
  }
  observe();
  if (status === 'dead_lettered') {
    alertInBackground(deps.notifier, { id: envelope.jobId, appId: envelope.appId, executionType: envelope.message.execution.type, attempts: Math.min(attempt, allowed), lastError: outcome.kind === 'ok' ? null : outcome.reason }, deps.log);
  }
  return done(deps, message, status === 'retrying' ? 'handedOver' : status === 'dead_lettered' ? 'deadLettered' : status);
}

function carried(envelope: SqsEnvelope, abandonedAttempts: number): CarriedJob {
  return {
    id: envelope.jobId,
    groupId: envelope.messageGroupId,
    execution: envelope.message.execution,
    maxAttempts: envelope.maxAttempts,
    abandonedAttempts,
    retryPolicy: envelope.retryPolicy,
  };
}

// A mode=sqs job whose idempotency key already names another job in Postgres (one sent again after
// SQS's five-minute deduplication window): the first job stands, as a repeated key promises.
async function duplicateKey(deps: MessageHandlerDeps, message: ReceivedMessage, envelope: SqsEnvelope): Promise<MessageResult> {
  deps.log.warn({ jobId: envelope.jobId, appId: envelope.appId }, `job ${envelope.jobId}: its idempotency key already names another job of ${envelope.appId}; not recorded`);
  return done(deps, message, 'skipped');
}

async function done(deps: MessageHandlerDeps, message: ReceivedMessage, result: MessageResult): Promise<MessageResult> {
  await deps.lane.delete(message.receiptHandle);
  return result;
}

/** Runs the attempt, pushing the message's visibility out while it runs so no other consumer gets it. */
async function executeKeepingVisible(deps: MessageHandlerDeps, message: ReceivedMessage, envelope: SqsEnvelope, attempt: number): Promise<Outcome> {
  const extend = setInterval(() => {
    deps.lane.extendVisibility(message.receiptHandle, deps.visibilityTimeoutSeconds)
      .catch((error) => deps.log.warn({ messageId: message.messageId, reason: (error as Error).message }, `sqs message ${message.messageId}: visibility not extended: ${(error as Error).message}`));
  }, deps.visibilityTimeoutSeconds * 500);
  try {
    return await deps.executors.execute({
      jobId: envelope.jobId,
      appId: envelope.appId,
      attempt,
      idempotencyKey: envelope.idempotencyKey ?? undefined,
      lambdaProxyMessage: envelope.message.lambdaProxyMessage,
      execution: envelope.message.execution,
      signingSecrets: (await deps.signingSecrets([envelope.appId])).get(envelope.appId),
      signal: deps.signal,
      trace: envelope.trace,
    });
  } finally {
    clearInterval(extend);
  }
}

/** Creates the row of a mode=sqs job the first time Postgres needs it; false when its idempotency key is taken. */
async function insertFromEnvelope(client: SqlClient, envelope: SqsEnvelope, lane: 'sqs' | 'db'): Promise<boolean> {
  return repo.insertJob(client, {
    id: envelope.jobId,
    appId: envelope.appId,
    mode: envelope.mode,
    executionType: envelope.message.execution.type,
    lambdaProxyMessage: envelope.message.lambdaProxyMessage,
    executionConfig: envelope.message.execution,
    metadata: envelope.message.metadata ?? {},
    messageGroupId: envelope.messageGroupId,
    idempotencyKey: envelope.idempotencyKey,
    status: 'pending',
    maxAttempts: envelope.maxAttempts,
    retryPolicy: envelope.retryPolicy,
    runAt: null,
    type: null,
    payload: null,
    lane,
    traceparent: envelope.trace?.traceparent ?? freshTraceContext().traceparent,
    tracestate: envelope.trace?.tracestate ?? null,
  });
}

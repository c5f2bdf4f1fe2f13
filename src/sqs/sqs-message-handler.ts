// What the poller does with one SQS message: read it, run it through the executors (or hand it to
// the DB lane behind an earlier job of its group), record the outcome, and only then delete it.
// Any step may crash; the message then comes back after its visibility timeout, and the record
// decides whether it still needs to run (see docs/sqs-lane.md).
import type { Config } from '../config/config.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import type { Outcome, SigningSecretsLookup } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { SqlClient } from '../db/sql-client.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import type { MessageLane, ReceivedMessage } from './sqs-lane.ts';
import { laneSettings } from '../jobs/job-preparation.ts';
import { observeAttempt } from '../jobs/attempt-log.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { freshTraceContext } from '../ops/trace.ts';
import * as repo from '../jobs/job-repository.ts';
import { attemptStatus, nominalDelaySeconds } from '../jobs/retry-policy.ts';
import { parseEnvelope, type SqsEnvelope } from './sqs-envelope.ts';
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
  signal: AbortSignal;
  log: Logger;
  metrics?: Metrics;
}

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
  // Retrying: it was handed over to the DB lane, which runs it from now on. Ended: nothing to do.
  if (envelope.mode === 'both' && !['pending', 'running'].includes(existing!.status)) return done(deps, message, 'skipped');

  if (envelope.messageGroupId !== null && await deps.dbLane.holdsGroup(deps.pool, envelope.messageGroupId)) {
    const handedOver = await inTransaction(deps.pool, async (client) => {
      if (envelope.mode === 'sqs' && !await insertFromEnvelope(client, envelope)) return false;
      await sendToDbLane(deps, client, envelope, 0);
      return true;
    });
    if (!handedOver) return duplicateKey(deps, message, envelope);
    deps.log.info({ jobId: envelope.jobId, appId: envelope.appId, groupId: envelope.messageGroupId }, `job ${envelope.jobId} follows its group ${envelope.messageGroupId} into the DB lane`);
    return done(deps, message, 'handedOver');
  }

  if (envelope.mode === 'both') {
    const running = await repo.markRunning(deps.pool, [{ id: envelope.jobId, attempt }]);
    if (running.length === 0) return done(deps, message, 'skipped');
  }

  const startedAt = new Date();
  const outcome: Outcome = attempt > envelope.maxAttempts
    ? { kind: 'fail', reason: `the consumer running attempt ${envelope.maxAttempts} of ${envelope.maxAttempts} was lost` }
    : await executeKeepingVisible(deps, message, envelope, attempt);
  const status = attemptStatus(outcome, attempt, envelope.maxAttempts);
  observeAttempt(deps, {
    jobId: envelope.jobId, appId: envelope.appId, lane: 'sqs', type: envelope.message.execution.type, attempt, maxAttempts: envelope.maxAttempts, status, outcome,
    // A first delivery was due when the job was created; a redelivery's due time SQS does not tell.
    startedAt, dueAt: attempt === 1 ? new Date(envelope.createdAt) : undefined,
  });

  if (status === 'completed' && envelope.mode === 'sqs') return done(deps, message, 'completed');
  const recorded = await inTransaction(deps.pool, async (client) => {
    if (envelope.mode === 'sqs') {
      if (!await insertFromEnvelope(client, envelope)) return false;
      await repo.markRunning(client, [{ id: envelope.jobId, attempt }]);
    }
    const nextRetryAt = status === 'retrying' ? await sendToDbLane(deps, client, envelope, attempt) : null;
    await repo.recordAttemptResults(client, [{
      id: envelope.jobId,
      attempt,
      lane: 'sqs',
      startedAt,
      status,
      lastError: outcome.kind === 'ok' ? null : outcome.reason,
      lastResponse: outcome.response ?? null,
      nextRetryAt,
    }]);
    return true;
  });
  if (!recorded) return duplicateKey(deps, message, envelope);
  return done(deps, message, status === 'retrying' ? 'handedOver' : status === 'dead_lettered' ? 'deadLettered' : status);
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
async function insertFromEnvelope(client: SqlClient, envelope: SqsEnvelope): Promise<boolean> {
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
    traceparent: envelope.trace?.traceparent ?? freshTraceContext().traceparent,
    tracestate: envelope.trace?.tracestate ?? null,
  });
}

/**
 * Saves the job to the DB lane after `attemptsUsed` attempts in SQS. The lane counts on from there
 * (attemptOffset) with the retries that are left, plus the spare one every DB-lane job has. The
 * first run there waits the backoff of the attempt that failed; pg-boss's own backoff restarts at
 * retryDelay, so retryDelay is the wait that follows the next attempt, which keeps the doubling.
 */
async function sendToDbLane(deps: MessageHandlerDeps, client: SqlClient, envelope: SqsEnvelope, attemptsUsed: number): Promise<Date | null> {
  const policy = { maxAttempts: envelope.maxAttempts, ...envelope.retryPolicy };
  const startAfter = attemptsUsed === 0 ? undefined : new Date(Date.now() + nominalDelaySeconds(policy, attemptsUsed) * 1000);
  await deps.dbLane.send(client, {
    id: envelope.jobId,
    groupId: envelope.messageGroupId ?? undefined,
    startAfter,
    expireInSeconds: laneSettings(deps.config, envelope.message.execution, policy).expireInSeconds,
    attemptOffset: attemptsUsed,
    retry: {
      retryLimit: envelope.maxAttempts - attemptsUsed,
      retryDelay: nominalDelaySeconds(policy, attemptsUsed + 1),
      retryDelayMax: policy.maxDelaySeconds,
    },
  });
  return startAfter ?? null;
}

// The SQS side of JobService: creating mode=sqs and mode=both jobs, forwarding the outbox to SQS,
// and polling SQS (the cron entry point and the in-process long-polling consumers). It exists only
// when AWS_SQS_QUEUE_URL is set; without it the service has no SQS side at all.
import type { Config } from '../config/config.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { noSigningSecrets, type SigningSecretsLookup } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { DbLane } from '../lanes/db-lane.ts';
import type { MessageLane, ReceivedMessage } from './sqs-lane.ts';
import { SqsOutbox } from './sqs-outbox.ts';
import { ValidationError } from '../model/errors.ts';
import { newJobId } from '../jobs/job-id.ts';
import { prepareDbJob } from '../jobs/job-preparation.ts';
import * as repo from '../jobs/job-repository.ts';
import type { CreateJobRequest } from '../model/message-schema.ts';
import type { DeadLetterNotifier } from '../jobs/dead-letter-alerts.ts';
import type { Drain } from '../jobs/drain.ts';
import type { Logger } from '../ops/log.ts';
import type { SqsIntake } from '../jobs/ports.ts';
import type { RetryPolicy } from '../jobs/retry-policy.ts';
import { buildEnvelope, deduplicationIdOf, sqsGroupOf, type SqsEnvelope } from './sqs-envelope.ts';
import { handleMessage, type MessageResult } from './sqs-message-handler.ts';

export interface SqsCreated {
  id: string;
  /** `pending` when created; a repeated key answers with the first job's current status. */
  status: repo.JobStatus;
  created: boolean;
}

export type PollCounts = { forwarded: number; received: number } & Record<MessageResult, number>;

export interface SqsJobsDeps {
  config: Config;
  pool: Pool;
  dbLane: DbLane;
  lane: MessageLane;
  outbox: SqsOutbox;
  executors: ExecutorRegistry;
  /** The signing secrets of the apps whose messages run here; none (unsigned) when not given. */
  signingSecrets?: SigningSecretsLookup;
  notifier: DeadLetterNotifier;
  /** The service's stop: every poll and consumer batch is tracked in it and abandoned through it. */
  drain: Drain;
  onStaleSettle: (lane: 'sqs', jobIds: string[]) => void;
  log: Logger;
  /** How long a received message stays hidden (extended while its job runs); AWS_SQS_VISIBILITY_TIMEOUT_SECONDS unless given. */
  visibilityTimeoutSeconds?: number;
}

// The longest wait SQS allows for one ReceiveMessage: an idle consumer costs one call per 20 s.
const LONG_POLL_SECONDS = 20;
const CONSUMER_BATCH = 10;
const CONSUMER_ERROR_PAUSE_MS = 1_000;

export class SqsJobs implements SqsIntake {
  readonly #deps: SqsJobsDeps;
  readonly #visibilityTimeoutSeconds: number;
  readonly #stopping = new AbortController();
  readonly #consumers: Promise<void>[] = [];

  constructor(deps: SqsJobsDeps) {
    this.#deps = deps;
    this.#visibilityTimeoutSeconds = deps.visibilityTimeoutSeconds ?? deps.config.aws.sqsVisibilityTimeoutSeconds;
  }

  /**
   * The SQS side the config asks for, or undefined when no queue is configured. Chosen once here;
   * nothing else asks whether AWS is configured. Registers its cleanups with the caller.
   */
  static async fromConfig(
    deps: Omit<SqsJobsDeps, 'lane' | 'outbox'> & { connectionString: string },
    cleanups: (() => Promise<void>)[],
  ): Promise<SqsJobs | undefined> {
    if (deps.config.aws.sqsQueueUrl === undefined) return undefined;
    // The SQS lane, and with it the SQS SDK, is loaded only when a queue is configured: a DB-only
    // service would otherwise hold its code in memory for nothing (docs/performance.md).
    const { SqsLane } = await import('./sqs-lane.ts');
    const lane = new SqsLane(deps.config.aws.sqsQueueUrl, deps.config.aws.sqsRegion);
    cleanups.push(async () => lane.stop());
    const outbox = await SqsOutbox.start(deps.connectionString, (error) => deps.log.error({ reason: error.message }, `sqs outbox: ${error.message}`));
    cleanups.push(() => outbox.stop(deps.config.shutdownTimeoutMs));
    return new SqsJobs({ ...deps, lane, outbox });
  }

  /**
   * mode=sqs: one SendMessage, nothing in Postgres. mode=both: the jobs row and an outbox entry in
   * one transaction; the job is accepted once that commits, whether or not SQS answers.
   */
  async create(request: CreateJobRequest, policy: RetryPolicy): Promise<SqsCreated> {
    if (request.runAt !== undefined || request.delaySeconds !== undefined) {
      const field = request.runAt !== undefined ? 'runAt' : 'delaySeconds';
      throw ValidationError.field(field, `a delayed start needs mode "db"; mode "${request.mode}" runs through SQS FIFO, which cannot delay one message`);
    }
    const id = newJobId();
    const envelope = buildEnvelope({
      jobId: id,
      appId: request.appId,
      mode: request.mode === 'both' ? 'both' : 'sqs',
      createdAt: new Date(),
      messageGroupId: request.messageGroupId ?? null,
      idempotencyKey: request.idempotencyKey ?? null,
      policy,
      message: request.message,
    });
    if (envelope.mode === 'sqs') {
      await this.#send(envelope);
      return { id, status: 'pending', created: true };
    }
    return inTransaction(this.#deps.pool, async (client) => {
      const inserted = await repo.insertJob(client, { ...prepareDbJob(this.#deps.config, request).row, id, lane: 'sqs' });
      if (!inserted) {
        const first = await repo.findJobByIdempotencyKey(client, envelope.appId, envelope.idempotencyKey!);
        return { id: first!.id, status: first!.status, created: false };
      }
      await this.#deps.outbox.add(client, { jobId: id, groupId: sqsGroupOf(envelope) });
      return { id, status: 'pending', created: true };
    });
  }

  /** Sends a mode=both job from its row. A job no longer pending (cancelled, say) is not sent. */
  async forward(jobId: string): Promise<void> {
    const row = await repo.findJob(this.#deps.pool, jobId);
    if (!row || row.status !== 'pending') return;
    await this.#send(buildEnvelope({
      jobId: row.id,
      appId: row.app_id,
      mode: 'both',
      createdAt: row.created_at,
      messageGroupId: row.message_group_id,
      idempotencyKey: row.idempotency_key,
      policy: { maxAttempts: row.max_attempts, ...row.retry_policy },
      message: { lambdaProxyMessage: row.lambda_proxy_message, execution: row.execution_config, metadata: row.metadata },
    }));
  }

  async #send(envelope: SqsEnvelope): Promise<void> {
    await this.#deps.lane.send({ body: JSON.stringify(envelope), groupId: sqsGroupOf(envelope), deduplicationId: deduplicationIdOf(envelope) });
  }

  /**
   * The cron entry point: forwards due outbox entries, then receives up to `limit` messages and
   * runs them before answering.
   */
  async poll(limit: number): Promise<PollCounts> {
    if (this.#deps.drain.stopping) return { forwarded: 0, ...emptyCounts(0) };
    return this.#deps.drain.track((async () => {
      const forwarded = await this.#deps.outbox.forwardDue(limit, (jobId) => this.forward(jobId));
      const messages = await this.#deps.lane.receive({ limit, waitSeconds: 0, visibilityTimeoutSeconds: this.#visibilityTimeoutSeconds });
      return { forwarded, ...await this.#runBatch(messages) };
    })());
  }

  /**
   * Runs a received batch: groups in parallel, the messages of one group one after another in the
   * order SQS gave them. When a message cannot be settled (the database is down, say), the rest of
   * its group is left too: all of them come back, in order, after the visibility timeout.
   */
  async #runBatch(messages: ReceivedMessage[]): Promise<Omit<PollCounts, 'forwarded'>> {
    const counts = emptyCounts(messages.length);
    const groups = new Map<string, ReceivedMessage[]>();
    for (const message of messages) {
      const key = message.groupId ?? message.messageId;
      groups.set(key, [...groups.get(key) ?? [], message]);
    }
    const deps = {
      ...this.#deps,
      signingSecrets: this.#deps.signingSecrets ?? noSigningSecrets,
      visibilityTimeoutSeconds: this.#visibilityTimeoutSeconds,
      signal: this.#deps.drain.signal,
    };
    await Promise.all([...groups.values()].map(async (group) => {
      for (const message of group) {
        try {
          counts[await handleMessage(deps, message)]++;
        } catch (error) {
          this.#deps.log.warn({ messageId: message.messageId, reason: (error as Error).message }, `sqs message ${message.messageId} left for redelivery: ${(error as Error).message}`);
          return;
        }
      }
    }));
    return counts;
  }

  /** Starts the outbox worker and `consumers` long-polling loops; SQS keeps a group on one of them at a time. */
  async startWorkers(consumers: number): Promise<void> {
    await this.#deps.outbox.work((jobId) => this.forward(jobId), this.#deps.config.worker.pollingIntervalSeconds);
    for (let i = 0; i < consumers; i++) this.#consumers.push(this.#consume());
  }

  async #consume(): Promise<void> {
    const signal = this.#stopping.signal;
    while (!signal.aborted) {
      try {
        const messages = await this.#deps.lane.receive({
          limit: CONSUMER_BATCH,
          waitSeconds: LONG_POLL_SECONDS,
          visibilityTimeoutSeconds: this.#visibilityTimeoutSeconds,
          signal,
        });
        if (messages.length) await this.#deps.drain.track(this.#runBatch(messages));
      } catch (error) {
        if (signal.aborted) return;
        this.#deps.log.error({ reason: (error as Error).message }, `sqs consumer: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, CONSUMER_ERROR_PAUSE_MS));
      }
    }
  }

  /**
   * The first step of a stop: a pending long poll is abandoned at once and no consumer receives
   * again. Batches already running carry on; the drain bounds them (an attempt it abandons hands
   * its job to the DB lane). Resolves when every consumer has ended.
   */
  stopReceiving(): Promise<void> {
    this.#stopping.abort();
    return Promise.all(this.#consumers).then(() => {});
  }
}

function emptyCounts(received: number): Omit<PollCounts, 'forwarded'> {
  return { received, completed: 0, handedOver: 0, failed: 0, deadLettered: 0, rejected: 0, skipped: 0 };
}

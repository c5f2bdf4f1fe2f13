// The SQS side of JobService: creating mode=sqs and mode=both jobs, forwarding the outbox to SQS,
// and polling SQS (the cron entry point and the in-process long-polling consumers). It exists only
// when AWS_SQS_QUEUE_URL is set; without it the service has no SQS side at all.
import type { Config } from '../config/config.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { noSigningSecrets, type SigningSecretsLookup } from '../executors/executor.ts';
import type { ExecutorRegistry } from '../executors/registry.ts';
import type { DbLane, LaneHosting } from '../lanes/db-lane.ts';
import type { MessageLane, ReceivedMessage } from './sqs-lane.ts';
import { SqsOutbox } from './sqs-outbox.ts';
import { ValidationError } from '../model/errors.ts';
import { newJobId } from '../jobs/job-id.ts';
import { prepareDbJob } from '../jobs/job-preparation.ts';
import * as repo from '../jobs/job-repository.ts';
import type { CreateJobRequest } from '../model/message-schema.ts';
import type { DeadLetterNotifier } from '../jobs/dead-letter-alerts.ts';
import { attemptSignal, type Drain } from '../jobs/drain.ts';
import type { Logger } from '../ops/log.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { SqsIntake } from '../jobs/ports.ts';
import type { RetryPolicy } from '../jobs/retry-policy.ts';
import { freshTraceContext, type TraceContext } from '../ops/trace.ts';
import { buildEnvelope, deduplicationIdOf, envelopeBody, MAX_SQS_MESSAGE_BYTES, sqsGroupOf, type SqsEnvelope } from './sqs-envelope.ts';
import { handleMessage, type MessageResult } from './sqs-message-handler.ts';

export interface SqsCreated {
  id: string;
  /** `pending` when created; a repeated key answers with the first job's current status. */
  status: repo.JobStatus;
  created: boolean;
}

export type PollCounts = { forwarded: number; received: number } & Record<MessageResult, number>;

export interface PollOptions {
  /** Long polling: how long an empty queue may keep the receive open (0, the default, to 20 s). */
  waitSeconds?: number;
  /** Abandons the running attempts (a Lambda function near its deadline); they are recorded as retrying. */
  abandon?: AbortSignal;
}

export interface DeliveredOptions {
  /** Once aborted, no further message is started; those not started are left to come back. */
  stopStarting?: AbortSignal;
  /** Abandons the running attempts; they are recorded as retrying. */
  abandon?: AbortSignal;
}

/** What became of a batch SQS delivered: the counts, and the messages left for SQS to deliver again. */
export interface DeliveredBatch {
  counts: Omit<PollCounts, 'forwarded'>;
  left: ReceivedMessage[];
}

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
  /** Counts receives, what became of each message, and (through the handler) every attempt. */
  metrics?: Metrics;
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
    deps: Omit<SqsJobsDeps, 'lane' | 'outbox'> & { connectionString: string; hosting?: LaneHosting },
    cleanups: (() => Promise<void>)[],
  ): Promise<SqsJobs | undefined> {
    if (deps.config.aws.sqsQueueUrl === undefined) return undefined;
    // The SQS lane, and with it the SQS SDK, is loaded only when a queue is configured: a DB-only
    // service would otherwise hold its code in memory for nothing (docs/performance.md).
    const { SqsLane } = await import('./sqs-lane.ts');
    const lane = new SqsLane(deps.config.aws.sqsQueueUrl, deps.config.aws.sqsRegion);
    cleanups.push(async () => lane.stop());
    const outbox = await SqsOutbox.start(deps.connectionString, (error) => deps.log.error({ reason: error.message }, `sqs outbox: ${error.message}`), deps.hosting);
    cleanups.push(() => outbox.stop(deps.config.shutdownTimeoutMs));
    return new SqsJobs({ ...deps, lane, outbox });
  }

  /**
   * mode=sqs: one SendMessage, nothing in Postgres. mode=both: the jobs row and an outbox entry in
   * one transaction; the job is accepted once that commits, whether or not SQS answers.
   */
  async create(request: CreateJobRequest, policy: RetryPolicy, trace: TraceContext = freshTraceContext()): Promise<SqsCreated> {
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
      trace,
    });
    const size = Buffer.byteLength(envelopeBody(envelope));
    if (size > MAX_SQS_MESSAGE_BYTES) {
      // Checked for mode=both too: its row would otherwise wait in the outbox for a send SQS refuses.
      throw ValidationError.field('message', `makes an SQS message of ${size} bytes; SQS takes at most ${MAX_SQS_MESSAGE_BYTES} (256 KiB): shrink message.lambdaProxyMessage or message.metadata, or use mode "db"`);
    }
    if (envelope.mode === 'sqs') {
      await this.#send(envelope);
      return { id, status: 'pending', created: true };
    }
    return inTransaction(this.#deps.pool, async (client) => {
      const inserted = await repo.insertJob(client, { ...prepareDbJob(this.#deps.config, request, { trace }).row, id, lane: 'sqs' });
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
      trace: row.traceparent === null ? freshTraceContext() : { traceparent: row.traceparent, tracestate: row.tracestate },
    }));
  }

  async #send(envelope: SqsEnvelope): Promise<void> {
    await this.#deps.lane.send({ body: envelopeBody(envelope), groupId: sqsGroupOf(envelope), deduplicationId: deduplicationIdOf(envelope) });
  }

  /** Sends up to `limit` due mode=both outbox entries to SQS now; returns how many were sent. */
  forwardOutbox(limit: number): Promise<number> {
    return this.#deps.outbox.forwardDue(limit, (jobId) => this.forward(jobId));
  }

  /**
   * The cron entry point: forwards due outbox entries, then receives up to `limit` messages and
   * runs them before answering.
   */
  async poll(limit: number, options: PollOptions = {}): Promise<PollCounts> {
    if (this.#deps.drain.stopping) return { forwarded: 0, ...emptyCounts(0) };
    return this.#deps.drain.track((async () => {
      const forwarded = await this.forwardOutbox(limit);
      const messages = await this.#receive({ limit, waitSeconds: options.waitSeconds ?? 0, visibilityTimeoutSeconds: this.#visibilityTimeoutSeconds });
      return { forwarded, ...(await this.#runBatch(messages, { abandon: options.abandon })).counts };
    })());
  }

  /**
   * Runs a batch that SQS delivered to someone else (the event source mapping of a Lambda function)
   * exactly as a polled one, and says which messages were left to come back.
   */
  runDelivered(messages: ReceivedMessage[], options: DeliveredOptions = {}): Promise<DeliveredBatch> {
    return this.#deps.drain.track(this.#runBatch(messages, options));
  }

  async #receive(request: Parameters<MessageLane['receive']>[0]): Promise<ReceivedMessage[]> {
    try {
      const messages = await this.#deps.lane.receive(request);
      this.#deps.metrics?.sqsReceived(messages.length > 0 ? 'messages' : 'empty');
      return messages;
    } catch (error) {
      if (!request.signal?.aborted) this.#deps.metrics?.sqsReceived('error');
      throw error;
    }
  }

  /**
   * Runs a received batch: groups in parallel, the messages of one group one after another in the
   * order SQS gave them. When a message cannot be settled (the database is down, say), the rest of
   * its group is left too: all of them come back, in order, after the visibility timeout.
   */
  async #runBatch(messages: ReceivedMessage[], { stopStarting, abandon }: DeliveredOptions = {}): Promise<DeliveredBatch> {
    const counts = emptyCounts(messages.length);
    const left: ReceivedMessage[] = [];
    const groups = new Map<string, ReceivedMessage[]>();
    for (const message of messages) {
      const key = message.groupId ?? message.messageId;
      groups.set(key, [...groups.get(key) ?? [], message]);
    }
    // What abandons a running attempt: the service's stop, or the caller's deadline (a Lambda function's).
    const stop = attemptSignal(this.#deps.drain.signal, abandon);
    const deps = {
      ...this.#deps,
      signingSecrets: this.#deps.signingSecrets ?? noSigningSecrets,
      visibilityTimeoutSeconds: this.#visibilityTimeoutSeconds,
      signal: stop.signal,
    };
    await Promise.all([...groups.values()].map(async (group) => {
      for (const [index, message] of group.entries()) {
        // Past the caller's deadline, or once the service stops, nothing new starts: the rest of
        // the group comes back untouched.
        if (stopStarting?.aborted || abandon?.aborted || this.#deps.drain.stopping) {
          left.push(...group.slice(index));
          return;
        }
        try {
          const result = await handleMessage(deps, message);
          counts[result]++;
          this.#deps.metrics?.sqsMessageHandled(result);
        } catch (error) {
          this.#deps.metrics?.sqsMessageHandled('left_for_redelivery');
          this.#deps.log.warn({ messageId: message.messageId, reason: (error as Error).message }, `sqs message ${message.messageId} left for redelivery: ${(error as Error).message}`);
          left.push(...group.slice(index));
          return;
        }
      }
    })).finally(() => stop.dispose());
    return { counts, left };
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
        const messages = await this.#receive({
          limit: CONSUMER_BATCH,
          waitSeconds: LONG_POLL_SECONDS,
          visibilityTimeoutSeconds: this.#visibilityTimeoutSeconds,
          signal,
        });
        // Received just as the stop began: left unrun, they come back after their visibility timeout.
        if (messages.length && !this.#deps.drain.stopping) await this.#deps.drain.track(this.#runBatch(messages));
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

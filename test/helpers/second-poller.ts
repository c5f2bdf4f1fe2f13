// A second SQS poller over a test service's database and queue, as another process would run it:
// its own DB lane and outbox, the real SQS lane underneath, and a way to swap in a lane the test can
// break at one step (a crash before DeleteMessage, say). Outcomes that match no running attempt are
// collected, so a test can say none happened.
import { ExecutorRegistry } from '../../src/executors/registry.ts';
import { createRestApiExecutor } from '../../src/executors/rest-api.ts';
import { silentNotifier } from '../../src/jobs/dead-letter-alerts.ts';
import { Drain } from '../../src/jobs/drain.ts';
import { DbLane } from '../../src/lanes/db-lane.ts';
import { SqsJobs } from '../../src/sqs/sqs-jobs.ts';
import { SqsLane, type MessageLane } from '../../src/sqs/sqs-lane.ts';
import { SqsOutbox } from '../../src/sqs/sqs-outbox.ts';
import { capturingLogger } from './log.ts';
import type { TestService } from './service.ts';
import { loopbackDispatcher } from './target.ts';

export interface SecondPoller {
  realLane: SqsLane;
  /** A poller over `lane` (the real one unless given) whose messages stay hidden for `visibilityTimeoutSeconds`. */
  pollerWith(lane: MessageLane, visibilityTimeoutSeconds: number): SqsJobs;
  /** The real lane, except that DeleteMessage fails as if the process died just before it. */
  crashBeforeDelete: MessageLane;
  logs: string[];
  staleSettles: string[];
}

export async function startSecondPoller(t: { teardown(fn: () => unknown): void }, service: TestService & { database: { connectionString: string } }, queueUrl: string): Promise<SecondPoller> {
  const dbLane = await DbLane.start(service.database.connectionString, service.config.worker, () => {});
  const outbox = await SqsOutbox.start(service.database.connectionString, () => {});
  const realLane = new SqsLane(queueUrl, 'us-east-1');
  t.teardown(async () => {
    realLane.stop();
    await outbox.stop(1000);
    await dbLane.stop(1000);
  });
  const logs: string[] = [];
  const log = await capturingLogger(logs);
  const staleSettles: string[] = [];
  return {
    realLane,
    logs,
    staleSettles,
    crashBeforeDelete: {
      send: (message) => realLane.send(message),
      receive: (options) => realLane.receive(options),
      extendVisibility: (handle, seconds) => realLane.extendVisibility(handle, seconds),
      delete: async () => {
        throw new Error('simulated crash before DeleteMessage');
      },
      stop: () => {},
    },
    pollerWith: (lane, visibilityTimeoutSeconds) => new SqsJobs({
      config: service.config,
      pool: service.pool,
      dbLane,
      lane,
      outbox,
      executors: new ExecutorRegistry([createRestApiExecutor({ defaultTimeoutMs: 10_000, dispatcher: loopbackDispatcher() })]),
      notifier: silentNotifier,
      drain: new Drain(),
      onStaleSettle: (_lane, jobIds) => staleSettles.push(...jobIds),
      log,
      visibilityTimeoutSeconds,
    }),
  };
}

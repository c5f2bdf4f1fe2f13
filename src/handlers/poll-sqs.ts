// The poll-sqs Lambda function: on its cron (rate(1 minute)) it long-polls the SQS FIFO queue and runs
// what arrives, forwarding mode=both outbox entries on every round, until its work window closes
// shortly before its deadline. With the function's timeout a little over its rate, one poller is
// always listening. The event source mapping (sqs-consumer) is the lower-latency way to the same end.
import type { PollCounts } from '../sqs/sqs-jobs.ts';
import { functionRuntime } from './runtime.ts';
import { workWindow, type DeadlineContext } from './work-window.ts';

// SQS's longest long poll, and its most messages per receive.
const MAX_WAIT_SECONDS = 20;
const RECEIVE_BATCH = 10;

export type PollSqsResult = PollCounts & { rounds: number };

export async function handler(_event: unknown, context: DeadlineContext): Promise<PollSqsResult> {
  const { config, parts } = await functionRuntime();
  if (parts.sqsJobs === undefined) throw new Error('poll-sqs: AWS_SQS_QUEUE_URL is not set, so there is no queue to poll');
  const window = workWindow(context, config.defaultTimeoutMs);
  const totals: PollSqsResult = { forwarded: 0, received: 0, completed: 0, handedOver: 0, failed: 0, deadLettered: 0, rejected: 0, skipped: 0, rounds: 0 };
  try {
    while (!window.stopTaking.aborted) {
      // A receive waits no longer than the window lasts, so the last one ends when work may still be taken.
      const waitSeconds = Math.min(MAX_WAIT_SECONDS, Math.floor(window.takingMsLeft() / 1000));
      const counts = await parts.sqsJobs.poll(RECEIVE_BATCH, { waitSeconds, abandon: window.abandon });
      for (const key of Object.keys(counts) as (keyof typeof counts)[]) totals[key] += counts[key];
      totals.rounds++;
    }
    return totals;
  } finally {
    window.dispose();
  }
}

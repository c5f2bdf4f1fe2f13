// What the dashboard's overview shows, read in one go: the queues, the oldest job due per lane, the
// last hour minute by minute, the latest failures. The SQL is in job-stats-repository.ts.
import type { Pool } from '../db/pool.ts';
import * as stats from './job-stats-repository.ts';

export interface Overview {
  queues: Awaited<ReturnType<typeof stats.readQueueStats>>;
  oldestWaiting: stats.OldestWaiting[];
  lastHour: stats.MinuteCounts[];
  recentFailures: stats.RecentFailure[];
}

const RECENT_FAILURES = 15;

export class JobStats {
  readonly #pool: Pool;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  /** The four readings run side by side, on separate connections. */
  async overview(): Promise<Overview> {
    const [queues, oldestWaiting, lastHour, recentFailures] = await Promise.all([
      stats.readQueueStats(this.#pool),
      stats.readOldestWaiting(this.#pool),
      stats.readLastMinutes(this.#pool, 60),
      stats.readRecentFailures(this.#pool, RECENT_FAILURES),
    ]);
    return { queues, oldestWaiting, lastHour, recentFailures };
  }
}

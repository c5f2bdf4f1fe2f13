// The per-app rate of job creation with app keys, kept in PostgreSQL so that it holds for the whole
// deployment: with the count in each process's memory, N processes behind a load balancer allowed N
// times the rate. The cost is one short statement per app-key create (docs/security.md gives the
// measured figure); admin keys are not limited and pay nothing.
import type { Pool } from '../db/pool.ts';
import * as repo from './apps-repository.ts';

export interface CreateRate {
  /** Creates per second, refilled continuously; 0 turns the limit off. */
  perSecond: number;
  /** How many may come at once after a quiet spell. */
  burst: number;
}

export type CreateAllowance = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export class CreateRateLimit {
  readonly #pool: Pool;
  readonly #rate: CreateRate;

  constructor(pool: Pool, rate: CreateRate) {
    this.#pool = pool;
    this.#rate = rate;
  }

  get rate(): CreateRate {
    return this.#rate;
  }

  /** Counts one create of the app against its rate, unless that would exceed it. */
  async take(appId: string): Promise<CreateAllowance> {
    if (this.#rate.perSecond === 0) return { allowed: true };
    const interval = 1 / this.#rate.perSecond;
    const burst = this.#rate.burst * interval;
    if (await repo.takeCreate(this.#pool, appId, interval, burst)) return { allowed: true };
    const wait = await repo.secondsUntilCreate(this.#pool, appId, interval, burst);
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(wait)) };
  }
}

// Small numeric helpers shared by the benchmark parts.
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export interface Latency {
  p50: number;
  p95: number;
  p99: number;
}

export function latencyOf(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (value: number) => Math.round(value * 100) / 100;
  return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), p99: round(percentile(sorted, 99)) };
}

export function perSecond(count: number, ms: number): number {
  return Math.round((count * 1000) / ms);
}

/** Runs `total` tasks with at most `inFlight` at once. */
export async function runWithConcurrency(total: number, inFlight: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, async () => {
    while (next < total) await task(next++);
  }));
}

/** Calls `tick(i)` `count` times at `perSecondRate`, on a fixed schedule (no drift from slow ticks). */
export async function atRate(count: number, perSecondRate: number, tick: (index: number) => Promise<void>): Promise<void> {
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / perSecondRate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(tick(i));
  }
  await Promise.all(pending);
}

/**
 * How often a run polls for its jobs to be done. The rates come from timestamps in the database,
 * not from this poll; each poll is a count over the jobs table that the CPU per job would
 * otherwise include several times a second.
 */
export const POLL_MS = 250;

export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

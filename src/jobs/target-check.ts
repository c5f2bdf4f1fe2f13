// The SSRF guard's create-time check: every URL a job would call is resolved now, so a refused
// target is a 400 naming the field instead of a job that could never run. The execution-time check
// (the guarded dispatcher) still applies to every socket, since a name may resolve differently later.
import { checkTargetUrl, type Resolver, type TargetPolicy } from '../executors/ssrf-guard.ts';
import { ValidationError, type FieldProblem } from '../model/errors.ts';
import type { Execution } from '../model/message-schema.ts';

/**
 * How long a host's create-time verdict is reused. The verdict only spares the caller a job that
 * would fail; the guard at connect decides, so a name that changes within this time is still
 * refused when the job runs. Without the cache every create paid a DNS lookup.
 */
export const VERDICT_TTL_MS = 30_000;
// Past this many hosts (a flood of distinct names) the cache starts over rather than grow.
const MAX_HOSTS = 10_000;

/** Create-time verdicts per host and policy, each kept for `ttlMs`. Lookups in flight are shared. */
export class TargetVerdicts {
  readonly #ttlMs: number;
  readonly #resolve: Resolver | undefined;
  readonly #now: () => number;
  readonly #verdicts = new Map<string, { reason: Promise<string | undefined>; at: number }>();

  constructor(options: { ttlMs?: number; resolve?: Resolver; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? VERDICT_TTL_MS;
    this.#resolve = options.resolve;
    this.#now = options.now ?? Date.now;
  }

  /** Why the URL's host is refused under the policy, or undefined. */
  verdict(url: string, policy: TargetPolicy): Promise<string | undefined> {
    const key = `${JSON.stringify(policy.allowPrivate)} ${new URL(url).hostname}`;
    const now = this.#now();
    const kept = this.#verdicts.get(key);
    if (kept && now - kept.at < this.#ttlMs) return kept.reason;
    if (this.#verdicts.size >= MAX_HOSTS) this.#verdicts.clear();
    const reason = checkTargetUrl(url, policy, this.#resolve);
    this.#verdicts.set(key, { reason, at: now });
    return reason;
  }
}

const processVerdicts = new TargetVerdicts();

function targetUrls(execution: Execution): { field: string; url: string }[] {
  switch (execution.type) {
    case 'rest-api': return [{ field: 'message.execution.baseUrl', url: execution.baseUrl }];
    case 'lambda-url': return [{ field: 'message.execution.functionUrl', url: execution.functionUrl }];
    case 'schedule': return targetUrls(execution.targetExecution as Execution)
      .map(({ field, url }) => ({ field: field.replace('message.execution.', 'message.execution.targetExecution.'), url }));
    default: return [];
  }
}

/** Throws a ValidationError naming each refused target, prefixed (e.g. `jobs.3.`) per item. */
export async function assertTargetsAllowed(
  items: { execution: Execution; prefix?: string }[],
  policy: TargetPolicy,
  verdicts: TargetVerdicts = processVerdicts,
): Promise<void> {
  const checks = items.flatMap(({ execution, prefix = '' }) => targetUrls(execution).map(async ({ field, url }): Promise<FieldProblem | undefined> => {
    const reason = await verdicts.verdict(url, policy);
    return reason ? { field: prefix + field, message: `target refused: ${reason}` } : undefined;
  }));
  const problems = (await Promise.all(checks)).filter((problem): problem is FieldProblem => problem !== undefined);
  if (problems.length) throw new ValidationError(problems);
}

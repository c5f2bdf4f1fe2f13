// The SSRF guard's create-time check: every URL a job would call is resolved now, so a refused
// target is a 400 naming the field instead of a job that could never run. The execution-time check
// (the guarded dispatcher) still applies, since a name may resolve differently later.
import { checkTargetUrl, type TargetPolicy } from '../executors/ssrf-guard.ts';
import { ValidationError, type FieldProblem } from '../model/errors.ts';
import type { Execution } from '../model/message-schema.ts';

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
export async function assertTargetsAllowed(items: { execution: Execution; prefix?: string }[], policy: TargetPolicy): Promise<void> {
  const verdicts = new Map<string, Promise<string | undefined>>();
  const checks = items.flatMap(({ execution, prefix = '' }) => targetUrls(execution).map(({ field, url }) => {
    const host = new URL(url).host;
    if (!verdicts.has(host)) verdicts.set(host, checkTargetUrl(url, policy));
    return verdicts.get(host)!.then((reason): FieldProblem | undefined => (reason ? { field: prefix + field, message: `target refused: ${reason}` } : undefined));
  }));
  const problems = (await Promise.all(checks)).filter((problem): problem is FieldProblem => problem !== undefined);
  if (problems.length) throw new ValidationError(problems);
}

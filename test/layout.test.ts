// The folder rules of docs/architecture.md hold for every import under src/, and the checker that
// says so catches an import that runs up a floor and a cycle between files.
import t from 'tap';
import { join } from 'node:path';
import { checkLayout, checkRepository, parseRules, ROOT } from '../scripts/check-layout.ts';

t.test('every import under src/ follows the folder table, with no cycle', async (t) => {
  t.same(checkRepository(), []);
});

t.test('the checker finds an import that runs up a floor, a folder without a row, and a cycle', async (t) => {
  const rules = parseRules([
    '<!-- layout-rules:start -->',
    '| Unit | What | May import |',
    '|---|---|---|',
    '| `src/model/` | the wire format | — |',
    '| `src/jobs/` | the core | model |',
    '| `src/sqs/` | the SQS side | jobs, model |',
    '<!-- layout-rules:end -->',
  ].join('\n'));
  const file = (path: string) => join(ROOT, 'src', path);
  const findings = checkLayout(rules, new Map([
    [file('jobs/job-service.ts'), [file('model/errors.ts'), file('sqs/sqs-jobs.ts')]],
    [file('sqs/sqs-jobs.ts'), [file('jobs/job-service.ts')]],
    [file('ops/log.ts'), []],
  ]));
  t.same(findings.map((finding) => finding.message), [
    'imports src/sqs/sqs-jobs.ts, but src/jobs may not import src/sqs',
    'src/ops has no row in the docs/architecture.md folder table',
    'import cycle among src/jobs/job-service.ts, src/sqs/sqs-jobs.ts',
  ]);
});

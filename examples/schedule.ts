// A schedule job: its target runs once, at a time given now (here in 2 seconds; `at` takes an ISO
// timestamp instead). Until then it is `scheduled` and can be cancelled.
//
//   SWITCHYARD_API_KEY=sy_… node examples/schedule.ts
import { createClient, waitForJob } from 'switchyard/client';

const client = createClient({ baseUrl: process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:8000', apiKey: process.env.SWITCHYARD_API_KEY! });

const { data: created, error } = await client.POST('/v1/jobs/create', {
  body: {
    appId: process.env.SWITCHYARD_APP_ID ?? 'examples',
    mode: 'db',
    message: {
      lambdaProxyMessage: { httpMethod: 'POST', path: '/reminders', body: '{"remind":"order 42"}', headers: { 'content-type': 'application/json' } },
      execution: {
        type: 'schedule',
        delaySeconds: 2,
        targetExecution: { type: 'rest-api', baseUrl: process.env.TARGET_URL ?? 'http://127.0.0.1:3000' },
      },
    },
  },
});
if (error) throw new Error(`the schedule was refused: ${error.message}`);
console.log(`job ${created.id} is ${created.status}`);

const job = await waitForJob(client, created.id, { timeoutMs: 30_000 });
const waitedMs = Date.parse(job.completedAt ?? '') - Date.parse(job.createdAt);
console.log(`job ${job.id} is ${job.status}, ${(waitedMs / 1000).toFixed(1)} s after it was created`);
if (job.status !== 'completed') process.exitCode = 1;

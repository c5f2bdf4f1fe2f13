// Create three jobs in one request, in one message group so they run one at a time in order, then
// wait for all of them. One invalid job would refuse the whole batch, and nothing would be stored.
//
//   SWITCHYARD_API_KEY=sy_… node examples/batch.ts
import { createClient, waitForJob, type CreateJobRequest } from 'switchyard/client';

const client = createClient({ baseUrl: process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:8000', apiKey: process.env.SWITCHYARD_API_KEY! });

const step = (name: string): CreateJobRequest => ({
  appId: process.env.SWITCHYARD_APP_ID ?? 'examples',
  mode: 'db',
  messageGroupId: 'order-42',
  message: {
    lambdaProxyMessage: { httpMethod: 'POST', path: `/orders/42/${name}`, body: '' },
    execution: { type: 'rest-api', baseUrl: process.env.TARGET_URL ?? 'http://127.0.0.1:3000' },
  },
});

const { data, error } = await client.POST('/v1/jobs/batch', { body: { jobs: [step('reserve'), step('charge'), step('ship')] } });
if (error) throw new Error(`the batch was refused: ${error.message} ${JSON.stringify(error.fields ?? [])}`);
console.log(`created ${data.jobs.length} jobs: ${data.jobs.map((job) => job.id).join(', ')}`);

const jobs = await Promise.all(data.jobs.map((job) => waitForJob(client, job.id, { timeoutMs: 30_000 })));
for (const job of jobs) console.log(`${job.message.lambdaProxyMessage.path} ${job.status} at ${job.completedAt}`);
if (jobs.some((job) => job.status !== 'completed')) process.exitCode = 1;

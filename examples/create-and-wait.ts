// Create a job that POSTs an order to TARGET_URL, then wait until it has finished.
//
//   SWITCHYARD_API_KEY=sy_… node examples/create-and-wait.ts
//
// SWITCHYARD_URL defaults to a local `npm start`, TARGET_URL to examples/receiver.ts on its default
// port, SWITCHYARD_APP_ID to `examples` (an app key's own app, or any app with an admin key).
import { createClient, waitForJob } from 'switchyard/client';

const client = createClient({ baseUrl: process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:8000', apiKey: process.env.SWITCHYARD_API_KEY! });

const { data: created, error } = await client.POST('/v1/jobs/create', {
  body: {
    appId: process.env.SWITCHYARD_APP_ID ?? 'examples',
    mode: 'db',
    message: {
      lambdaProxyMessage: {
        httpMethod: 'POST',
        path: '/orders',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ order: 42 }),
      },
      execution: { type: 'rest-api', baseUrl: process.env.TARGET_URL ?? 'http://127.0.0.1:3000', timeoutMs: 10_000 },
    },
  },
});
if (error) throw new Error(`the job was refused: ${error.message}`);
console.log(`created job ${created.id} (${created.status})`);

// Resolves once the job is completed, failed, dead-lettered or cancelled.
const job = await waitForJob(client, created.id, { timeoutMs: 30_000 });
console.log(`job ${job.id} is ${job.status} after ${job.attempts} attempt(s); the target answered ${job.lastResponse?.status}`);
if (job.status !== 'completed') process.exitCode = 1;

// Creating a job safely when an answer may be lost: send it with an idempotency key, and send the
// same request again until an answer arrives. However often it was sent there is one job: a
// repeated key answers 200 with the first job instead of 202 with a new one.
//
//   SWITCHYARD_API_KEY=sy_… node examples/idempotent-retry.ts
import { createClient, type CreateJobRequest, type CreatedJob } from 'switchyard/client';

// To show a lost answer, this client's fetch lets the first request reach Switchyard and then
// throws its answer away, as a connection dropped at the wrong moment would. A real client leaves
// `fetch` out.
let answersLost = 0;
const client = createClient({
  baseUrl: process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:8000',
  apiKey: process.env.SWITCHYARD_API_KEY!,
  fetch: async (request) => {
    const response = await fetch(request);
    if (answersLost++ === 0) throw new TypeError('fetch failed: the connection dropped before the answer arrived');
    return response;
  },
});

/** Sends the create until it is answered; a network error, a 429 or a 5xx is tried again. */
async function createOnce(body: CreateJobRequest, attempts = 5): Promise<{ job: CreatedJob; replayed: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const answer = await client.POST('/v1/jobs/create', { body }).catch((failure: unknown) => failure as Error);
    if (!(answer instanceof Error)) {
      if (answer.data) return { job: answer.data, replayed: answer.response.status === 200 };
      if (answer.response.status !== 429 && answer.response.status < 500) throw new Error(`the job was refused: ${answer.error?.message}`);
    } else {
      // No answer: the job may or may not have been stored. The key makes sending it again safe.
      console.log(`attempt ${attempt}: ${answer.message}`);
    }
    if (attempt === attempts) throw new Error(`no answer after ${attempts} attempts`, { cause: answer });
    const retryAfterSeconds = answer instanceof Error ? 0 : Number(answer.response.headers.get('retry-after') ?? 0);
    await new Promise((resolve) => setTimeout(resolve, retryAfterSeconds * 1000 || 100 * 2 ** attempt));
  }
}

const order = process.env.ORDER ?? String(Date.now());
const { job, replayed } = await createOnce({
  appId: process.env.SWITCHYARD_APP_ID ?? 'examples',
  mode: 'db',
  // Named after what the job does, so every send of this request carries the same key.
  idempotencyKey: `order-${order}-confirmation`,
  message: {
    lambdaProxyMessage: { httpMethod: 'POST', path: '/confirmations', body: JSON.stringify({ order }), headers: { 'content-type': 'application/json' } },
    execution: { type: 'rest-api', baseUrl: process.env.TARGET_URL ?? 'http://127.0.0.1:3000' },
  },
});
console.log(replayed ? `job ${job.id}: stored by the send whose answer was lost, and returned again` : `job ${job.id}: created`);

// A receiver for Switchyard's requests on plain node:http: it checks Switchyard-Signature before
// doing anything, refuses a forgery with 401 (which fails the job at once: a 4xx is not retried),
// and does each job's work once, however often it is delivered.
//
//   SWITCHYARD_SIGNING_SECRET=whsec_… node examples/receiver.ts
//
// The secret is printed by `npm run cli -- apps secret <app-id>`. PORT defaults to 3000;
// PUBLIC_URL is the base URL the jobs name (their baseUrl), which the signature covers.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from 'switchyard/signature';

const secret = process.env.SWITCHYARD_SIGNING_SECRET;
if (!secret) throw new Error('set SWITCHYARD_SIGNING_SECRET (npm run cli -- apps secret <app-id>)');

// A real receiver keeps this in its database, in the same transaction as the work.
const done = new Set<string>();

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks); // the raw bytes: verify before parsing
  const check = verifySignature(req.headers['switchyard-signature'], { method: req.method!, url: publicUrl() + req.url, body }, { secret });
  if (!check.ok) {
    console.log(`refused ${req.method} ${req.url}: ${check.reason}`);
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'bad_signature', reason: check.reason }));
    return;
  }
  const jobId = String(req.headers['webhook-id']); // the job id, the same on every attempt
  if (done.has(jobId)) {
    console.log(`verified ${req.method} ${req.url} job ${jobId}: already done`);
  } else {
    done.add(jobId);
    console.log(`verified ${req.method} ${req.url} job ${jobId} attempt ${req.headers['switchyard-attempt']}: done`);
  }
  res.writeHead(204).end();
});

function publicUrl(): string {
  return process.env.PUBLIC_URL ?? `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => console.log(`listening on ${publicUrl()}`));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});

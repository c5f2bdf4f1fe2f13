// The target of the chaos scenarios: a real HTTP server on loopback that keeps, for every job, each
// delivery it received (by the Switchyard-Job-Id header), in arrival order, with what it answered.
// It can go down (its port refuses connections) and come back on the same port.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Delivery {
  /** Arrival order across all jobs, from 0. */
  seq: number;
  jobId: string;
  attempt: number;
  path: string;
  receivedAt: number;
  /** What the target answered; undefined while it has not answered, or when the caller was gone by then. */
  status?: number;
}

export interface ChaosReply {
  status?: number;
  delayMs?: number;
}

export type ChaosResponder = (delivery: Delivery) => ChaosReply;

export interface ChaosTarget {
  url: string;
  deliveries: Delivery[];
  /** The deliveries of one job, in arrival order. */
  of(jobId: string): Delivery[];
  /** Requests received and not answered yet. */
  inFlight(): number;
  /** Closes the port and every open connection: calls are refused until `up`. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A delivery that may have had its effect: the target answered it with success, or never answered
 * (the caller died or gave up first, so it cannot know). A deliberate error answer had no effect.
 */
export function tookEffect(delivery: Delivery): boolean {
  return delivery.status === undefined || delivery.status < 300;
}

export async function startChaosTarget(respond: ChaosResponder = () => ({ status: 200 })): Promise<ChaosTarget> {
  const deliveries: Delivery[] = [];
  const byJob = new Map<string, Delivery[]>();
  let inFlight = 0;
  const server = createServer(async (req: IncomingMessage, res) => {
    for await (const _chunk of req);
    const jobId = String(req.headers['switchyard-job-id'] ?? '');
    const delivery: Delivery = {
      seq: deliveries.length,
      jobId,
      attempt: Number(req.headers['switchyard-attempt'] ?? 0),
      path: req.url ?? '',
      receivedAt: Date.now(),
    };
    deliveries.push(delivery);
    byJob.set(jobId, [...byJob.get(jobId) ?? [], delivery]);
    inFlight++;
    try {
      const reply = respond(delivery);
      // Unref'd: a reply nobody waits for any more must not keep the test process alive.
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs).unref());
      if (res.destroyed) return;
      delivery.status = reply.status ?? 200;
      res.writeHead(delivery.status, { 'content-type': 'text/plain' });
      res.end('ok');
    } finally {
      inFlight--;
    }
  });
  // Many sockets at once: the scenarios send hundreds of calls in parallel.
  server.maxConnections = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let listening = true;
  const down = () => new Promise<void>((resolve) => {
    if (!listening) return resolve();
    listening = false;
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return {
    url: `http://127.0.0.1:${port}`,
    deliveries,
    of: (jobId) => byJob.get(jobId) ?? [],
    inFlight: () => inFlight,
    down,
    up: () => new Promise<void>((resolve, reject) => {
      if (listening) return resolve();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    }),
    close: down,
  };
}

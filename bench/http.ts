// The benchmark's two HTTP ends, both on loopback: a client that sends JSON over keep-alive
// connections (node:http, so the client is not what bounds the ingest figures) and the target the
// jobs call, which answers 200 at once and notes when each job first arrived.
import { BENCH_ADMIN_KEY } from './service-process.ts';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JsonClient {
  post(path: string, body: unknown): Promise<{ status: number; body: any }>;
  get(path: string): Promise<{ status: number; body: any }>;
  close(): void;
}

export function jsonClient(baseUrl: string, sockets = 16, apiKey = BENCH_ADMIN_KEY): JsonClient {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const base = new URL(baseUrl);
  const send = (method: 'GET' | 'POST', path: string, body: unknown): Promise<{ status: number; body: any }> => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request({
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': payload.length }),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  };
  return {
    post: (path, body) => send('POST', path, body),
    get: (path) => send('GET', path, undefined),
    close: () => agent.destroy(),
  };
}

export interface BenchTarget {
  url: string;
  /** performance.now() at the first arrival of each job id. */
  firstArrival: Map<string, number>;
  /** Requests received, repeats included. */
  received(): number;
  /** Wall-clock ms (Date.now) of the first request since the last reset. */
  firstAt(): number | undefined;
  reset(): void;
  close(): Promise<void>;
}

export async function startBenchTarget(): Promise<BenchTarget> {
  const firstArrival = new Map<string, number>();
  let received = 0;
  let firstAt: number | undefined;
  const server = createServer((req, res) => {
    const arrived = performance.now();
    firstAt ??= Date.now();
    received++;
    const jobId = req.headers['switchyard-job-id'];
    if (typeof jobId === 'string' && !firstArrival.has(jobId)) firstArrival.set(jobId, arrived);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    firstArrival,
    received: () => received,
    firstAt: () => firstAt,
    reset() {
      firstArrival.clear();
      received = 0;
      firstAt = undefined;
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

// A real HTTP target on loopback that records every request it receives and answers with whatever
// the test's responder says.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { KEEP_ALIVE } from '../../src/executors/http-send.ts';
import { createGuardedDispatcher } from '../../src/executors/ssrf-guard.ts';

export interface ReceivedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw header list, to see repeated headers as sent. */
  rawHeaders: string[];
  body: Buffer;
  receivedAt: number;
}

export interface TargetReply {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
}

export type Responder = (request: ReceivedRequest, index: number) => TargetReply | Promise<TargetReply>;

export interface Target {
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

export async function startTarget(responder: Responder = () => ({ status: 200, body: 'ok' })): Promise<Target> {
  const requests: ReceivedRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const received: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks),
      receivedAt: Date.now(),
    };
    const index = requests.push(received) - 1;
    const reply = await responder(received, index);
    if (reply.delayMs) {
      // Unref'd: a reply the test no longer waits for must not keep the test process alive.
      await new Promise((resolve) => setTimeout(resolve, reply.delayMs).unref());
    }
    if (res.destroyed) return;
    res.writeHead(reply.status ?? 200, { 'content-type': 'text/plain', ...reply.headers });
    res.end(reply.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The executors' real dispatcher, with loopback allowed so tests can reach their local targets. */
export function loopbackDispatcher(): Dispatcher {
  return createGuardedDispatcher({ allowPrivate: true }, KEEP_ALIVE);
}

/**
 * A target that counts the calls in flight at once, overall and per group (the first path segment),
 * each call taking `delayMs`: it shows whether a group's jobs ever overlapped and whether groups ran
 * side by side.
 */
export async function startConcurrencyTarget(delayMs: number): Promise<Target & { mostAtOnce(): number; mostInOneGroup(): number }> {
  const inFlight = new Map<string, number>();
  let mostAtOnce = 0;
  let mostInOneGroup = 0;
  const target = await startTarget(async (request) => {
    const group = request.url.split('/')[1]!;
    inFlight.set(group, (inFlight.get(group) ?? 0) + 1);
    mostAtOnce = Math.max(mostAtOnce, [...inFlight.values()].reduce((a, b) => a + b, 0));
    mostInOneGroup = Math.max(mostInOneGroup, inFlight.get(group)!);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    inFlight.set(group, inFlight.get(group)! - 1);
    return { status: 200 };
  });
  return Object.assign(target, { mostAtOnce: () => mostAtOnce, mostInOneGroup: () => mostInOneGroup });
}

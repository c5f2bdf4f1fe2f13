// Chaos: abusive clients against the API. Slow-loris connections (headers dribbled a byte a second,
// 200 at a time, each replaced when the server closes it) and bodies over the limit, while ordinary
// clients keep creating jobs: those are served as fast as by a service nobody attacks, the
// service's memory stays bounded, and every abuser gets a clear answer.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { peakRssMbOf } from '../../bench/service-process.ts';
import { startChaosTarget } from '../helpers/chaos-target.ts';
import { chaosSetup, checkEnd, countFinished, createJob, report, restJobTo, sized, type PlannedJob } from '../helpers/chaos.ts';
import { ADMIN_AUTH } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const SLOW_CONNECTIONS = 200;
const ATTACK_MS = sized(15_000, 60_000);
const CLIENTS = 4;
const OVERSIZED_EVERY_MS = 100;
// service.ts: headers must arrive within 10 s, checked every second.
const HEADERS_TIMEOUT_MS = 10_000;
const CHECK_INTERVAL_MS = 1_000;

const { sql, fleet } = await chaosSetup(t);
const target = await startChaosTarget(() => ({ status: 200 }));
t.teardown(() => target.close());

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

/** CLIENTS ordinary clients creating jobs one after another until `until`; each create's latency in ms. */
async function ordinaryClients(url: string, until: number, jobs: PlannedJob[]): Promise<number[]> {
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (Date.now() < until) {
      const started = performance.now();
      jobs.push(await createJob(url, restJobTo(target.url, '/ordinary')));
      latencies.push(performance.now() - started);
    }
  }));
  return latencies;
}

interface SlowLoris { openedAt: number; closedAt?: number; answer: string; endedByUs?: boolean }

/** Keeps SLOW_CONNECTIONS connections dribbling a header a byte a second until `until`, replacing each one the server closes. */
function slowLoris(url: string, until: number): { connections: SlowLoris[]; done: Promise<void> } {
  const { hostname, port } = new URL(url);
  const connections: SlowLoris[] = [];
  const open = (): Promise<void> => new Promise((resolve) => {
    const record: SlowLoris = { openedAt: Date.now(), answer: '' };
    connections.push(record);
    const socket: Socket = connect(Number(port), hostname, () => socket.write('POST /v1/jobs/create HTTP/1.1\r\nHost: x\r\n'));
    const header = 'X-Slow: ' + 'a'.repeat(1000);
    let sent = 0;
    const drip = setInterval(() => socket.write(header[sent++ % header.length]!), 1000);
    socket.on('data', (chunk) => (record.answer += chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(drip);
      record.closedAt = Date.now();
      resolve(Date.now() < until ? open() : undefined);
    });
    setTimeout(() => {
      record.endedByUs = record.closedAt === undefined;
      socket.destroy();
    }, Math.max(0, until - Date.now())).unref();
  });
  return { connections, done: Promise.all(Array.from({ length: SLOW_CONNECTIONS }, open)).then(() => {}) };
}

async function oversized(url: string, chunked: boolean) {
  const body = JSON.stringify({ ...restJobTo(target.url, '/big'), padding: 'x'.repeat(2 * 1024 * 1024) });
  const response = await fetch(url + '/v1/jobs/create', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...ADMIN_AUTH },
    // A stream has no length: the server finds out by reading, and must stop at the limit.
    body: chunked ? new Blob([body]).stream() : body,
    ...(chunked ? { duplex: 'half' } : {}),
  } as RequestInit);
  return { status: response.status, body: await response.json() as any };
}

t.test('slow-loris and oversized bodies: ordinary clients still served, memory bounded, clear errors', async (t) => {
  const service = await fleet.start();
  // A second service on the same database that nobody attacks, measured at the same moments: the
  // machine's own load (other tests run beside this one) then weighs on both alike, and what differs
  // is what the attack costs.
  const control = await fleet.start();
  const jobs: PlannedJob[] = [];
  const baseline = await ordinaryClients(service.url, Date.now() + sized(5_000, 15_000), jobs);
  const rssBeforeMb = peakRssMbOf(service.pid);

  const attackEnds = Date.now() + ATTACK_MS;
  const loris = slowLoris(service.url, attackEnds);
  const refusals: Awaited<ReturnType<typeof oversized>>[] = [];
  // Ten oversized bodies a second, declared and chunked in turn: 20 MiB/s offered to the API.
  const bodies = (async () => {
    for (let next = Date.now(); Date.now() < attackEnds; next += OVERSIZED_EVERY_MS) {
      refusals.push(await oversized(service.url, refusals.length % 2 === 1));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next + OVERSIZED_EVERY_MS - Date.now())));
    }
  })();
  // Once the slow connections are all open, so that every measured create competes with them.
  await waitFor(() => loris.connections.length >= SLOW_CONNECTIONS, { what: 'the slow connections to open' });
  const [during, unattacked] = await Promise.all([ordinaryClients(service.url, attackEnds, jobs), ordinaryClients(control.url, attackEnds, jobs)]);
  await Promise.all([loris.done, bodies]);
  const peakRssMb = peakRssMbOf(service.pid);

  const closedByServer = loris.connections.filter((c) => !c.endedByUs);
  t.ok(closedByServer.length >= SLOW_CONNECTIONS, `the server closed ${closedByServer.length} slow connections during the attack`);
  const heldLongest = Math.max(...closedByServer.map((c) => c.closedAt! - c.openedAt));
  // Closed at the headers timeout, found by the next check; 2 s more for a loaded machine.
  t.ok(heldLongest <= HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + 2_000, `no slow connection held longer than ${heldLongest} ms`);
  t.same(closedByServer.filter((c) => !c.answer.startsWith('HTTP/1.1 408')).slice(0, 3).map((c) => ({ ...c, heldMs: c.closedAt! - c.openedAt })), [], 'each was told 408 Request Timeout');
  t.ok(refusals.length >= 2, `${refusals.length} oversized bodies sent`);
  t.same(refusals.filter((r) => r.status !== 413 || r.body.error !== 'payload_too_large' || !/at most 1048576 bytes/.test(r.body.message)).slice(0, 3), [], 'each oversized body got 413 payload_too_large naming the limit');

  const [p50Before, p99Before, p50During, p99During] = [percentile(baseline, 0.5), percentile(baseline, 0.99), percentile(during, 0.5), percentile(during, 0.99)];
  const [p50Control, p99Control] = [percentile(unattacked, 0.5), percentile(unattacked, 0.99)];
  t.ok(during.length > 0, `${during.length} creates served during the attack`);
  // "Normal latency": the attacked service against the unattacked one, over the same seconds. The
  // attack costs the server 200 one-byte reads a second and ten refused bodies; the median may move
  // a little, the p99 of a loaded 2-core machine wanders (57-200 ms with no attack at all here), so
  // its bound is loose. A service stalled by the attack (waiting on slow sockets, or on whole
  // bodies) would answer in seconds, or not at all.
  t.ok(p50During <= 2 * p50Control + 25, `p50 ${p50During.toFixed(1)} ms under attack, ${p50Control.toFixed(1)} ms unattacked`);
  t.ok(p99During <= Math.max(4 * p99Control, 1000), `p99 ${p99During.toFixed(1)} ms under attack, ${p99Control.toFixed(1)} ms unattacked`);
  t.ok(peakRssMb - rssBeforeMb < 64, `peak RSS ${peakRssMb.toFixed(0)} MB, ${rssBeforeMb.toFixed(0)} MB before the attack`);

  await waitFor(async () => (await countFinished(sql, jobs)) === jobs.length, { timeoutMs: 60_000, what: 'every ordinary job to complete' });
  await checkEnd(t, { sql, target, fleet, jobs });
  report(t, 'abusive clients', {
    attackS: ATTACK_MS / 1000,
    slowConnectionsClosed: closedByServer.length,
    slowHeldLongestMs: heldLongest,
    oversizedBodies413: refusals.length,
    createsBefore: baseline.length,
    createsDuring: during.length,
    p50BeforeMs: p50Before.toFixed(1),
    p99BeforeMs: p99Before.toFixed(1),
    p50DuringMs: p50During.toFixed(1),
    p99DuringMs: p99During.toFixed(1),
    p50UnattackedMs: p50Control.toFixed(1),
    p99UnattackedMs: p99Control.toFixed(1),
    peakRssMb: peakRssMb.toFixed(0),
    rssBeforeAttackMb: rssBeforeMb.toFixed(0),
  });
});

// A body over the limit gets a 413 the client can read, however it is sent: with a declared length
// (refused before reading) or chunked (refused once the limit is passed), and the connection stays
// usable, so a keep-alive client is not reset mid-send.
import { connect } from 'node:net';
import t from 'tap';
import { startTestService } from './helpers/service.ts';
import { waitFor } from './helpers/wait.ts';

const service = await startTestService(t, { env: { RUN_WORKERS: 'false' } });
const { hostname, port } = new URL(service.url);

/** Opens a raw connection and collects everything the server sends on it. */
async function rawConnection() {
  const socket = connect(Number(port), hostname);
  let received = '';
  let closed = false;
  socket.on('data', (chunk) => (received += chunk));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, received: () => received, closed: () => closed };
}

const head = (extra: string) => `POST /v1/jobs/create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${service.config.bootstrapAdminKey}\r\nContent-Type: application/json\r\n${extra}\r\n`;

t.test('a chunked body over the limit: a 413 the client reads, and the connection carries the next request', async (t) => {
  const connection = await rawConnection();
  connection.socket.write(head('Transfer-Encoding: chunked\r\n'));
  const chunk = 'x'.repeat(64 * 1024);
  // 1.5 MiB in 64 KiB chunks, past the 1 MiB limit, and the client is still sending when refused.
  for (let i = 0; i < 24; i++) connection.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  await waitFor(() => connection.received().includes('\r\n\r\n{') || connection.closed(), { what: 'an answer or a closed connection' });
  t.match(connection.received(), /^HTTP\/1\.1 413 /, 'answered 413');
  t.match(connection.received(), /"error":"payload_too_large"/);
  connection.socket.write('0\r\n\r\n');
  const before = connection.received().length;
  connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => connection.received().length > before + 20 || connection.closed(), { what: 'the second answer or a closed connection' });
  t.notOk(connection.closed(), 'the connection was not cut');
  t.match(connection.received().slice(before), /^HTTP\/1\.1 200 /, 'the next request on it is served');
  connection.socket.destroy();
});

t.test('a declared length over the limit: refused before the body is read, and the connection carries on', async (t) => {
  const connection = await rawConnection();
  const size = 2 * 1024 * 1024;
  connection.socket.write(head(`Content-Length: ${size}\r\n`));
  await waitFor(() => connection.received().includes('\r\n\r\n{') || connection.closed(), { what: 'an answer or a closed connection' });
  t.match(connection.received(), /^HTTP\/1\.1 413 /, 'answered 413 before any of the body was sent');
  connection.socket.write('x'.repeat(size));
  const before = connection.received().length;
  connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => connection.received().length > before + 20 || connection.closed(), { what: 'the second answer or a closed connection' });
  t.match(connection.received().slice(before), /^HTTP\/1\.1 200 /, 'the next request on it is served');
  connection.socket.destroy();
});

// The database going away under a running process: what was in flight fails as "unavailable" (a
// 503 at the API), nothing crashes the process, and the pool carries on once the server is back.
import t from 'tap';
import { createPool, inTransaction, isDatabaseUnavailable } from '../src/db/pool.ts';
import { silentLogger } from '../src/ops/log.ts';
import { createRestartableDatabase } from './helpers/database.ts';

const database = await createRestartableDatabase();
const pool = createPool(database.connectionString, { log: silentLogger });
t.teardown(async () => {
  await pool.end();
  await database.close();
});

t.test('a transaction open when the server stops rejects as unavailable instead of ending the process', async (t) => {
  const open = inTransaction(pool, async (client) => {
    await client.query('SELECT 1');
    // The server's fast shutdown ends this connection while the transaction holds it.
    await database.stopServer();
    await client.query('SELECT 1');
  });
  const error = await open.then(() => undefined, (failure: unknown) => failure);
  t.ok(isDatabaseUnavailable(error), `rejected as unavailable: ${(error as Error)?.message}`);

  await database.startServer();
  t.same((await pool.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the pool connects again');
  t.equal(await inTransaction(pool, async (client) => (await client.query('SELECT 2 AS two')).rows[0].two), 2, 'and transactions work again');
});

// serverless-offline as a real Lambda peer: the fixture service in test/fixtures/lambda-peer, started
// on free ports for one test file (it takes a few seconds to start) and stopped with it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './database.ts';
import { waitFor } from './wait.ts';

export interface LambdaPeer {
  /** For AWS_ENDPOINT_URL_LAMBDA: serverless-offline's Invoke API. */
  lambdaEndpoint: string;
  /** Function URL of a function with `url: true` (serverless-offline-lambda-function-urls). */
  functionUrl(name: string): string;
  /** Deployed name of a fixture function, as the Invoke API knows it. */
  functionName(name: string): string;
  log(): string;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

export async function startLambdaPeer(t: { teardown(fn: () => unknown): void }): Promise<LambdaPeer> {
  const [httpPort, lambdaPort, urlPort] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(process.execPath, [`${root}node_modules/osls/bin/serverless.js`, 'offline', 'start'], {
    cwd: `${root}test/fixtures/lambda-peer`,
    env: { ...process.env, PEER_HTTP_PORT: String(httpPort), PEER_LAMBDA_PORT: String(lambdaPort), PEER_URL_PORT: String(urlPort), SLS_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`serverless-offline exited: ${output}`);
    return output.includes('Server ready') && output.includes(`listening on http://127.0.0.1:${lambdaPort}`);
  }, { timeoutMs: 60_000, what: 'serverless-offline to start' });
  return {
    lambdaEndpoint: `http://127.0.0.1:${lambdaPort}`,
    functionUrl: (name) => `http://127.0.0.1:${urlPort}/test/${name}`,
    functionName: (name) => `switchyard-peer-test-${name}`,
    log: () => output,
  };
}

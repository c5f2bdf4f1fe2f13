// Runs Switchyard as its own process, started as `npm start` starts it (the Node flags of
// package.json's start script, configured by env as in production), so its memory can be read on
// its own: VmHWM in /proc/<pid>/status is the peak resident set.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from '../test/helpers/database.ts';
import { ROOT, startArgs } from '../src/cli/start-command.ts';

export interface ServiceProcess {
  url: string;
  pid: number;
  /** Peak resident set size so far, in MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

export function peakRssMbOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** The admin key every benchmark service process is started with, and every benchmark request sends. */
export const BENCH_ADMIN_KEY = `bench-${randomBytes(24).toString('base64url')}`;

export async function startServiceProcess(databaseUrl: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<ServiceProcess> {
  const port = await freePort();
  // Extra flags (--cpu-prof, …) come first; the start script's own follow, as `npm start` gives them.
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...startArgs()], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      BOOTSTRAP_ADMIN_KEY: BENCH_ADMIN_KEY,
      // The target is on loopback, which an external DATABASE_URL would otherwise refuse.
      ALLOW_PRIVATE_TARGETS: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The service logs every request and attempt; only the tail is kept, for an error message.
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      keep(chunk);
      if (output.includes('API listening on')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', keep);
    exited.then((code) => reject(new Error(`switchyard exited with ${code} before listening:\n${output}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    peakRssMb: () => peakRssMbOf(child.pid!),
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`switchyard stopped with exit code ${code}:\n${output.slice(-2000)}`);
    },
  };
}

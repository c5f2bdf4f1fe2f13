// Runs src/main.ts as a real child process (for signals, kill -9 and start-up messages).
import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from './wait.ts';

export interface ChildService {
  process: ChildProcess;
  output: () => string;
  url: () => string | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startChild(env: Record<string, string>): ChildService {
  const child = spawn(process.execPath, ['src/main.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    process: child,
    output: () => output,
    url: () => /API listening on (\S+)/.exec(output)?.[1],
    exited,
  };
}

export async function waitForListening(child: ChildService, timeoutMs = 30_000): Promise<string> {
  return waitFor(() => {
    if (child.process.exitCode !== null) throw new Error(`the service exited early:\n${child.output()}`);
    return child.url();
  }, { timeoutMs, what: 'the service to listen' });
}

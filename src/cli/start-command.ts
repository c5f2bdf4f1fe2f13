// The command `npm start` runs, read from package.json: the one place that says which Node flags
// and preload production runs with. `switchyard start`, the benchmark's service processes and the child-process tests
// start src/main.ts with exactly these arguments, so what they measure and check is a real start.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The checkout's root, where `npm start` runs and where the arguments' relative paths start. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The arguments after `node` in package.json's start script, ending with src/main.ts. */
export function startArgs(): string[] {
  const { scripts } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const [command, ...args] = scripts.start.trim().split(/\s+/);
  if (command !== 'node' || args.at(-1) !== 'src/main.ts') {
    throw new Error(`package.json "start" should be "node [flags] src/main.ts", not ${JSON.stringify(scripts.start)}`);
  }
  return args;
}

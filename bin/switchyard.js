#!/usr/bin/env node
// The `switchyard` command (package.json "bin"; `npx switchyard` in a checkout). Plain JavaScript on
// purpose: this file may be started by whatever `node` is first on the PATH, which can be older
// than the Node 24 the CLI's TypeScript needs (type stripping). On an older Node it runs itself again
// with the Node the project pins (node_modules/.bin/node, from the `node` dev dependency), passing
// signals on and exiting with its code; on 24 or newer it loads the CLI directly.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const NEEDED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);

if (major >= NEEDED_MAJOR) {
  await import('../src/cli.ts');
} else {
  const pinned = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    console.error(`switchyard: needs Node ${NEEDED_MAJOR} or newer, and this is ${process.version}; run \`npm ci\` in the checkout to get the pinned Node, or put Node ${NEEDED_MAJOR} first on the PATH`);
    process.exit(3);
  }
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

// `npm run deploy -- --stage <stage> [--region <region>] [--param="name=value" ...]`: packages,
// deploys exactly that package, then invokes the migrate function once, so the database is migrated
// by the code just deployed and by no other function. A step that fails stops the rest with its exit
// code; a failed migration leaves the new code deployed on the old schema: docs/deploy.md says how
// to roll back.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const osls = `${root}node_modules/osls/bin/serverless.js`;
const args = process.argv.slice(2);

function run(step: string[]): void {
  console.log(`deploy: osls ${step.join(' ')}`);
  const result = spawnSync(process.execPath, [osls, ...step], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`deploy: "osls ${step.join(' ')}" failed; nothing after it ran`);
    process.exit(result.status ?? 1);
  }
}

run(['package', ...args]);
run(['deploy', '--package', '.serverless', ...args]);
// `osls invoke` exits non-zero when the function reports an error.
run(['invoke', '--function', 'migrate', ...args]);

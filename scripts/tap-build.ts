// tap rebuilds its Test class when the configured plugins differ from the built ones, but the run
// that notices it still spawns the test files with the old plugins' loaders. On a fresh install
// that means tap's TypeScript plugin (which package.json turns off) on the first `npm test`. This
// rebuilds ahead of the run, and only when the signatures differ, since a build takes ~30 s.
import { execFileSync } from 'node:child_process';
import { TapConfig } from '@tapjs/config';
import { signature } from '@tapjs/test';

const config = await TapConfig.load();
if (config.pluginSignature !== signature) {
  console.log('tap: rebuilding its Test class for the configured plugins');
  execFileSync('tap', ['build'], { stdio: 'inherit' });
}

// `node bench/profile-summary.ts file.cpuprofile [top]`: self time by function, to read a
// --cpu-prof profile of the service without a browser.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const [file, top = '30'] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file!, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
const hits = new Map<number, number>();
for (const sample of profile.samples) hits.set(sample, (hits.get(sample) ?? 0) + 1);
const byFunction = new Map<string, number>();
const byPackage = new Map<string, number>();
for (const node of profile.nodes) {
  const count = hits.get(node.id) ?? 0;
  if (!count) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench)\//, '$1/');
  byFunction.set(`${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`, (byFunction.get(`${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`) ?? 0) + count);
  const pkg = url.includes('node_modules/') ? url.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1') : url.startsWith('node:') ? 'node:' + url.slice(5).split('/')[0] : url ? 'app' : functionName;
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + count);
}
const total = profile.samples.length;
const show = (map: Map<string, number>, n: number) => {
  for (const [name, count] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((count / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
};
console.log(`samples: ${total}\nby package:`);
show(byPackage, 15);
console.log('by function (self):');
show(byFunction, Number(top));

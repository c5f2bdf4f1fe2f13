// Checks the folder rules of docs/architecture.md against the import statements under src/: each
// file may import only its own folder and the folders its row of the table names, and no import
// cycle may exist between files. Run by test/layout.test.ts inside `npm test`; `node
// scripts/check-layout.ts` prints the same findings.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A unit is a folder under src/ (`src/jobs/`) or a file directly in it (`src/service.ts`). */
export type Rules = Map<string, Set<string> | 'all'>;

const TABLE_START = '<!-- layout-rules:start -->';
const TABLE_END = '<!-- layout-rules:end -->';

/**
 * Reads the table between the layout-rules markers: the first column names a unit in backticks,
 * the last lists what it may import (unit names without `src/`, comma-separated; `—` for nothing,
 * `all` for anything).
 */
export function parseRules(markdown: string): Rules {
  const start = markdown.indexOf(TABLE_START);
  const end = markdown.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`docs/architecture.md has no ${TABLE_START} … ${TABLE_END} table`);
  const rules: Rules = new Map();
  for (const line of markdown.slice(start, end).split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const unit = /^`src\/([^`]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!unit) continue;
    const allowed = cells.at(-2) ?? '';
    if (allowed === 'all') {
      rules.set(unitName(unit), 'all');
      continue;
    }
    const names = allowed === '—' ? [] : allowed.split(',').map((name) => unitName(name.trim().replace(/`/g, '').replace(/^src\//, '')));
    rules.set(unitName(unit), new Set(names));
  }
  return rules;
}

/** `jobs/` and `jobs` are the same unit; files keep their extension. */
function unitName(name: string): string {
  return name.replace(/\/$/, '');
}

export function unitOf(file: string): string {
  const path = relative(join(ROOT, 'src'), file).split('/');
  return path[0]!;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

// Static imports and re-exports (`from '…'`) and dynamic imports (`import('…')`), relative ones only:
// packages are not part of the layout.
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm;

export function importsOf(file: string, text = readFileSync(file, 'utf8')): string[] {
  const withoutComments = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...withoutComments.matchAll(IMPORT)].map((match) => resolve(dirname(file), match[1]!));
}

export interface Finding {
  file: string;
  message: string;
}

/** Every import that breaks a rule, and every cycle among the files. */
export function checkLayout(rules: Rules, files: Map<string, string[]>): Finding[] {
  const findings: Finding[] = [];
  for (const [file, imports] of files) {
    const from = unitOf(file);
    const allowed = rules.get(from);
    const shown = relative(ROOT, file);
    if (allowed === undefined) {
      findings.push({ file: shown, message: `src/${from} has no row in the docs/architecture.md folder table` });
      continue;
    }
    for (const target of imports) {
      const to = unitOf(target);
      if (to === from || allowed === 'all' || allowed.has(to)) continue;
      findings.push({ file: shown, message: `imports ${relative(ROOT, target)}, but src/${from} may not import src/${to}` });
    }
  }
  for (const cycle of cyclesOf(files)) {
    findings.push({ file: relative(ROOT, cycle[0]!), message: `import cycle among ${cycle.map((file) => relative(ROOT, file)).join(', ')}` });
  }
  return findings;
}

/** The strongly connected components of more than one file (Tarjan), each as a list of files. */
function cyclesOf(files: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string) => {
    index.set(file, counter);
    low.set(file, counter++);
    stack.push(file);
    onStack.add(file);
    for (const target of files.get(file) ?? []) {
      if (!files.has(target)) continue;
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1 || (files.get(file) ?? []).includes(file)) cycles.push(component.reverse());
    }
  };
  for (const file of files.keys()) if (!index.has(file)) visit(file);
  return cycles;
}

/** The folder rules as written in docs/architecture.md, checked against src/ as it is. */
export function checkRepository(): Finding[] {
  const rules = parseRules(readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8'));
  const files = new Map(sourceFiles(join(ROOT, 'src')).map((file) => [file, importsOf(file)]));
  return checkLayout(rules, files);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const findings = checkRepository();
  for (const finding of findings) console.log(`${finding.file}: ${finding.message}`);
  console.log(findings.length ? `${findings.length} layout problem(s)` : 'layout: every import follows docs/architecture.md');
  process.exit(findings.length ? 1 : 0);
}

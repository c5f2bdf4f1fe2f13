// Named (prepared) statements for the hot paths. PostgreSQL parses and plans an unnamed statement
// on every call; for the statements below that cost more than running them (the single-create
// statement: ~0.7 ms of PostgreSQL CPU per create unnamed, against ~0.6 ms for everything once named;
// docs/performance.md). pg prepares a named statement once per connection and then only binds and
// runs it.
import { createHash } from 'node:crypto';

// pg keeps every statement it prepared for as long as the connection lives, on both ends, so only
// texts that repeat may be named. The hot paths use a handful; past this many distinct texts
// something builds statements with values inlined, and the rest run unnamed.
const MAX_NAMED = 64;
const names = new Map<string, string>();

export interface NamedQuery {
  name?: string;
  text: string;
  values: unknown[];
}

/** The statement as pg's query config: named after its text while the budget lasts. */
export function named(text: string, values: unknown[]): NamedQuery {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `sy_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return name === undefined ? { text, values } : { name, text, values };
}

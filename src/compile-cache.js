// Preloaded by `npm start` (node --import, package.json) before any TypeScript is loaded: turns on
// Node's compile cache. A start whose sources are already in the cache neither strips their types
// again nor loads Node's type stripper, whose WebAssembly memory would otherwise stay resident for
// the life of the process (about 20 MB of the service's RSS; docs/performance.md). Plain JavaScript
// because a TypeScript file here would load the stripper itself.
//
// The cache is in NODE_COMPILE_CACHE when set, else in the system's temporary directory. Entries
// are checked against each file's content, so an edited file is stripped anew; a cache that cannot
// be written (a read-only disk) only means the types are stripped at every start, as without it.
import { enableCompileCache } from 'node:module';

enableCompileCache();

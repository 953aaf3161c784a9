import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The compiled CLI entry, to start child streamctl processes (stage workers). From dist/ it is the
 * sibling bin; from the TypeScript sources (tests) it is the build in dist/.
 */
export function cliEntry(): string {
  for (const rel of ['../../bin/streamctl.js', '../../dist/bin/streamctl.js']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('cannot find the streamctl CLI entry; run `npm run build`');
}

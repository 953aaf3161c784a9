import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * A compiled entry of bin/, to start child processes: `streamctl` (stage workers) by default, or
 * `streamctl-supervisor`. From dist/ it is the sibling bin; from the TypeScript sources (tests) it
 * is the build in dist/.
 */
export function cliEntry(name = 'streamctl'): string {
  for (const rel of [`../../bin/${name}.js`, `../../dist/bin/${name}.js`]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`cannot find the ${name} entry; run \`npm run build\``);
}

import { afterEach } from 'vitest';
import { runCli } from './cli.js';
import { tempDir } from './redis.js';

export type Cleanup = () => Promise<unknown> | void;

/**
 * Installs an afterEach hook in the calling test file and returns the function that registers work
 * for it: after each test, everything registered runs, last registered first.
 */
export function cleanupAfterEach(): (fn: Cleanup) => void {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return (fn) => void cleanups.push(fn);
}

/** A fresh state folder for `up`; after the test, whatever runs there is stopped (`down`) and the folder removed. */
export function stateHome(cleanup: (fn: Cleanup) => void): string {
  const tmp = tempDir('streamctl-home-');
  cleanup(() => tmp.remove());
  cleanup(() => runCli(['down', '--home', tmp.dir]));
  return tmp.dir;
}

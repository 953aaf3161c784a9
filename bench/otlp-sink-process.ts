import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../src/wait.js';

/**
 * Starts the OTLP receiver (`otlp-sink.ts`) in a process of its own, its port file in `dir`; resolves
 * with its URL and a stop. With `dump`, JSON exports are appended to that file.
 */
export async function startSink(dir: string, dump: string | undefined) {
  const portFile = join(dir, `sink-${Date.now()}.port`);
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./otlp-sink.js', import.meta.url)), portFile, ...(dump ? [dump] : [])],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const port = await waitFor(async () => (existsSync(portFile) ? readFileSync(portFile, 'utf8') : undefined), {
    timeoutMs: 10_000,
    intervalMs: 50,
    onTimeout: () => new Error('the OTLP receiver did not start'),
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

const argv = process.argv.slice(2);

/**
 * Commands that a dashboard or a script runs again and again, each run a process that is over in a
 * moment: V8's optimizing compiler never pays off there, and its background compilations only add
 * CPU time, which on a loaded machine is what such a call waits for (docs/PERFORMANCE.md, health
 * under load, has the figures). Only flags that V8 reads as it goes can be set this late: the
 * garbage collector's threads, set up at start, are not to be changed (a change crashed it).
 */
const BRIEF = new Set(['health']);
if (BRIEF.has(argv[0] ?? '')) setFlagsFromString('--no-opt');

// Loaded after the flag, so that it applies to their code as well.
const [{ main }, { commandsFor }, { createProcessIo }] = await Promise.all([
  import('../src/cli/program.js'),
  import('../src/commands/index.js'),
  import('../src/cli/io.js'),
]);

// The only place that exits the process. The first Ctrl-C, SIGTERM or SIGHUP (the terminal closed)
// asks the running command to finish cleanly; a second Ctrl-C forces the exit.
const controller = new AbortController();
let interrupts = 0;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    interrupts++;
    if (interrupts > 1 && sig === 'SIGINT') {
      process.stderr.write('forced exit\n');
      process.exit(130);
    }
    controller.abort(new Error(`received ${sig}`));
  });
}

// A closed pipe (`streamctl alerts | head`) ends the output, not with a crash. A closed stderr (a
// worker whose supervisor was killed) is no reason to stop: the worker still drains and commits.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
process.stderr.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

/**
 * Resolves once everything written to `stream` so far has left the process. On Linux, writes to a
 * pipe are asynchronous: exiting at once would cut `streamctl alerts --json | jq` after the first
 * 64 KiB the pipe holds.
 */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    stream.write('', () => resolve());
  });
}

// A worker's heap settings (see worker-heap.ts) are process-wide, so they are set here, not by the command.
if (argv[0] === 'worker') (await import('../src/embedded/worker-heap.js')).tuneWorkerHeap();

const code = await main(argv, createProcessIo(controller.signal), await commandsFor(argv));
await Promise.all([drained(process.stdout), drained(process.stderr)]);
process.exit(code);

#!/usr/bin/env node
import { main } from '../src/cli/program.js';
import { commandsFor } from '../src/commands/index.js';
import { createProcessIo } from '../src/cli/io.js';
import { tuneWorkerHeap } from '../src/embedded/worker-heap.js';

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
if (process.argv[2] === 'worker') tuneWorkerHeap();

const argv = process.argv.slice(2);
const code = await main(argv, createProcessIo(controller.signal), await commandsFor(argv));
await Promise.all([drained(process.stdout), drained(process.stderr)]);
process.exit(code);

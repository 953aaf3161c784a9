import { renderToString, render } from 'ink';
import { createElement } from 'react';
import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { topSampler } from '../observe/top-sampler.js';
import type { Io } from '../cli/io.js';
import { connectionOptions, jsonOption, namespaceOption } from '../cli/options.js';
import { connect, embeddedStatus, embeddedTarget } from '../cli/target.js';
import { canRedraw } from '../ui/live.js';
import { TopApp } from '../ui/top-app.js';
import { TopScreen } from '../ui/top-screen.js';
import { emptyView, nextView, type TopView } from '../ui/top-view.js';
import { sleep } from '../wait.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  interval: z.coerce
    .number()
    .min(0.2)
    .max(3600)
    .default(1)
    .describe('Seconds between refreshes')
    .meta({ valueName: 'SECONDS' }),
  once: z.boolean().default(false).describe('Print one plain snapshot of the screen and exit'),
  ...jsonOption,
});

/** The screen as plain text, for a pipe or a file (no colour, no cursor movement). */
function plain(view: TopView, columns: number): string {
  const screen = createElement(TopScreen, {
    view,
    columns,
    rows: 24,
    paused: false,
    color: false,
    focus: 'events',
    scroll: 0,
  });
  return `${renderToString(screen, { columns })}\n`;
}

export default defineCommand({
  name: 'top',
  description:
    'A live view of the pipeline, the cluster and the deployment: stages with their rate over the last ' +
    'minute, lag and dead letters; nodes with their memory; end-to-end p50/p99 over the last minute; the ' +
    'deployment events (failovers, restarts, chaos faults applied and healed) and the cep alerts. On a terminal it redraws every --interval ' +
    '(q quits, p pauses, tab moves the focus between the feeds, up/down scroll it); off one, or with ' +
    'CI set, it prints a plain snapshot every --interval, or one with --once; --json prints one as JSON.',
  examples: ['streamctl top', 'streamctl top --interval 2', 'streamctl top --once', 'streamctl top --json'],
  options,
  async run(opts, io: Io) {
    const conn = await connect(opts, io);
    try {
      const target = embeddedTarget(opts, io)?.home ?? conn.urls.join(',');
      const sample = topSampler(conn, opts.namespace, () => embeddedStatus(opts, io));
      if (opts.json || opts.once || !canRedraw(io.stdout)) {
        let view = emptyView(target);
        for (;;) {
          view = nextView(view, await sample());
          io.stdout.write(
            opts.json
              ? `${JSON.stringify({ ...view, readings: undefined }, null, 2)}\n`
              : plain(view, Math.max(80, io.stdout.columns)),
          );
          if (opts.json || opts.once) return 0;
          await sleep(opts.interval * 1000, io.signal);
          if (io.signal.aborted) return 0;
        }
      }
      const app = render(
        createElement(TopApp, {
          sample,
          intervalMs: opts.interval * 1000,
          target,
          color: !io.env.NO_COLOR,
        }),
        { stdout: io.stdout.stream, exitOnCtrlC: false },
      );
      io.signal.addEventListener('abort', () => app.unmount(), { once: true });
      await app.waitUntilExit();
      return 0;
    } finally {
      await conn.close();
    }
  },
});

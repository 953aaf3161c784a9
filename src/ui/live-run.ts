import { render } from 'ink';
import { createElement } from 'react';
import { RunApp } from './run-app.js';
import { startStatus, type RunStatus } from './run-status.js';
import type { TopSample } from './top-view.js';

/** Lines a live run keeps for its feed. */
const LINES_KEPT = 500;

/** A long run's live screen, while it is drawn. */
export interface LiveRun {
  /** A line of the run's: into the feed (off a terminal it would have been printed). */
  say(line: string): void;
  /** Changes the status shown (phase, plan, figures, gates). */
  update(patch: Partial<Omit<RunStatus, 'title' | 'startedAt'>>): void;
  /** Stops redrawing; the last frame stays on the terminal (idempotent). */
  stop(): Promise<void>;
}

/**
 * Draws a long run's live screen on `stream`, a terminal (see `canRedraw`): its status and lines,
 * and, with `sample`, the pipeline's stages, nodes and latency as `top` shows them.
 */
export function startLiveRun(o: {
  stream: NodeJS.WriteStream;
  title: string;
  sample: (() => Promise<TopSample>) | undefined;
  intervalMs: number;
  color: boolean;
  nodes: boolean;
}): LiveRun {
  let status = startStatus(o.title, Date.now());
  const lines: string[] = [];
  let lastError = '';
  const say = (line: string) => {
    lines.push(line);
    if (lines.length > LINES_KEPT) lines.splice(0, lines.length - LINES_KEPT);
  };
  const element = () =>
    createElement(RunApp, {
      status: () => status,
      lines: () => lines,
      sample: o.sample,
      intervalMs: o.intervalMs,
      color: o.color,
      nodes: o.nodes,
      onError: (err) => {
        const text = `pipeline view not refreshed: ${(err as Error).message}`;
        if (text !== lastError) say(text);
        lastError = text;
      },
    });
  const app = render(element(), { stdout: o.stream, exitOnCtrlC: false, patchConsole: false });
  let stopped: Promise<void> | undefined;
  return {
    say,
    update: (patch) => void (status = { ...status, ...patch }),
    stop: () => {
      stopped ??= (async () => {
        // The frame left on the terminal is the run's last status, not the one of the last redraw.
        app.rerender(element());
        app.unmount();
        await app.waitUntilExit();
      })();
      return stopped;
    },
  };
}

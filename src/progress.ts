/** Where a long command's progress goes: its stderr. */
export interface ProgressOutput {
  write(text: string): void;
  readonly isTTY: boolean;
}

/** How often a plain progress line is written when the output is not a terminal. */
export const PLAIN_PROGRESS_EVERY_MS = 5000;

/** How often a progress line is redrawn in place on a terminal. */
export const REDRAW_EVERY_MS = 250;

export interface ProgressOptions {
  /** The progress as one plain line (no line end): written off a terminal. */
  line: () => string;
  /** The progress drawn in place on a terminal (no `\r`, no line end); without it a terminal shows nothing. */
  redraw?: (() => string) | undefined;
  /** Between plain lines; default `PLAIN_PROGRESS_EVERY_MS`. */
  everyMs?: number;
}

/** A running progress report; `stop()` ends it (idempotent). */
export interface Progress {
  stop(): void;
}

/**
 * Reports a long command's progress (produce, verify's wait for the drain, bench) on `out`. On a
 * terminal `redraw` is drawn in place, and once more with a line end at `stop()`. Off a terminal (a
 * pipe, a log file, CI) nothing can be redrawn and a command silent until its end looks hung, so
 * `line` is written as a line of its own every `everyMs` instead.
 */
export function startProgress(out: ProgressOutput, o: ProgressOptions): Progress {
  const tty = out.isTTY;
  if (tty && !o.redraw) return { stop: () => undefined };
  const draw = tty ? () => out.write(`\r${o.redraw!()}`) : () => out.write(`${o.line()}\n`);
  const timer = setInterval(draw, tty ? REDRAW_EVERY_MS : (o.everyMs ?? PLAIN_PROGRESS_EVERY_MS));
  // A report never keeps the process alive on its own.
  timer.unref();
  let stopped = false;
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (tty) out.write(`\r${o.redraw!()}\n`);
    },
  };
}

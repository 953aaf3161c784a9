import isInCi from 'is-in-ci';

/**
 * Whether Ink can redraw a live screen on `out`: a terminal (a process stream), with no `CI` (or
 * `CONTINUOUS_INTEGRATION`) variable set. With one set, Ink draws nothing until it unmounts, so a
 * live view would stay blank; commands print plain lines there instead, as off a terminal.
 */
export function canRedraw(out: {
  readonly isTTY: boolean;
  readonly stream?: NodeJS.WriteStream | undefined;
}): out is { isTTY: true; stream: NodeJS.WriteStream } {
  return out.isTTY && out.stream !== undefined && !isInCi;
}

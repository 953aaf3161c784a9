import { useApp, useInput, useStdout } from 'ink';
import { useEffect, useState } from 'react';
import type { Snapshot } from '../observe/snapshot.js';
import { TopScreen } from './top-screen.js';
import { emptyView, nextView, type TopView } from './top-view.js';

export interface TopAppProps {
  /** Takes the next snapshot (the command's; this component never reaches Redis itself). */
  sample: () => Promise<Snapshot>;
  intervalMs: number;
  target: string;
  color: boolean;
  /** Called with the error of a refresh that failed (the screen keeps the last view). */
  onError?: (err: unknown) => void;
}

function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: Math.max(80, stdout.columns || 80), rows: Math.max(24, stdout.rows || 24) });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => void stdout.off('resize', onResize);
  }, [stdout]);
  return size;
}

/**
 * The container of `streamctl top`: it owns the refresh (every `intervalMs`, none while paused) and
 * the keys; the panels get plain props. q quits, p pauses, tab moves the focus, up and down scroll
 * the focused feed.
 */
export function TopApp(props: TopAppProps) {
  const { exit } = useApp();
  const [view, setView] = useState<TopView>(() => emptyView(props.target));
  const [paused, setPaused] = useState(false);
  const [scroll, setScroll] = useState(0);
  const { columns, rows } = useTerminalSize();

  useEffect(() => {
    if (paused) return;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      try {
        const s = await props.sample();
        if (!stopped) setView((v) => nextView(v, s));
      } catch (err) {
        props.onError?.(err);
      }
      if (!stopped) timer = setTimeout(() => void tick(), props.intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [paused, props.intervalMs]);

  useInput((input, key) => {
    if (input === 'q' || (key.ctrl && input === 'c')) exit();
    else if (input === 'p') setPaused((p) => !p);
    else if (key.upArrow) setScroll((s) => Math.min(Math.max(0, view.events.length - 1), s + 1));
    else if (key.downArrow) setScroll((s) => Math.max(0, s - 1));
    // tab: the events feed is the one focusable panel so far.
  });

  return (
    <TopScreen
      view={view}
      columns={columns}
      rows={rows}
      paused={paused}
      color={props.color}
      focus="events"
      scroll={scroll}
    />
  );
}

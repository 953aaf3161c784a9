import { useApp, useInput, useStdout } from 'ink';
import { useEffect, useState } from 'react';
import { TopScreen, type Focus } from './top-screen.js';
import { emptyView, nextView, type TopSample, type TopView } from './top-view.js';

export interface TopAppProps {
  /** Takes the next sample (the command's: this component never reaches Redis itself). */
  sample: () => Promise<TopSample>;
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
  const [focus, setFocus] = useState<Focus>('events');
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
    else if (key.tab) {
      setFocus((f) => (f === 'events' ? 'alerts' : 'events'));
      setScroll(0);
    } else if (key.upArrow) {
      const length = focus === 'events' ? view.events.length : view.alerts.length;
      setScroll((s) => Math.min(Math.max(0, length - 1), s + 1));
    } else if (key.downArrow) setScroll((s) => Math.max(0, s - 1));
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

import { useApp, useInput } from 'ink';
import { useState } from 'react';
import { useSampledView } from './sampled-view.js';
import { useTerminalSize } from './terminal-size.js';
import { TopScreen, type Focus } from './top-screen.js';
import type { TopSample } from './top-view.js';

export interface TopAppProps {
  /** Takes the next sample (the command's: this component never reaches Redis itself). */
  sample: () => Promise<TopSample>;
  intervalMs: number;
  target: string;
  color: boolean;
  /** Called with the error of a refresh that failed (the screen keeps the last view). */
  onError?: (err: unknown) => void;
}

/**
 * The container of `streamctl top`: it owns the refresh (every `intervalMs`, none while paused) and
 * the keys; the panels get plain props. q quits, p pauses, tab moves the focus, up and down scroll
 * the focused feed.
 */
export function TopApp(props: TopAppProps) {
  const { exit } = useApp();
  const [paused, setPaused] = useState(false);
  const [scroll, setScroll] = useState(0);
  const [focus, setFocus] = useState<Focus>('events');
  const { columns, rows } = useTerminalSize();
  const view = useSampledView({ ...props, paused });

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
      focus={focus}
      scroll={scroll}
    />
  );
}

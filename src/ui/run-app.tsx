import { useEffect, useState } from 'react';
import { RunScreen } from './run-screen.js';
import type { RunStatus } from './run-status.js';
import { useSampledView } from './sampled-view.js';
import { useTerminalSize } from './terminal-size.js';
import type { TopSample } from './top-view.js';

/** How often the run's own status is redrawn (its figures move faster than the pipeline's refresh). */
export const RUN_REDRAW_MS = 250;

export interface RunAppProps {
  /** The run's status now (the command keeps it; read at each redraw). */
  status: () => RunStatus;
  /** The run's lines so far, newest last. */
  lines: () => readonly string[];
  /** Takes the next sample of the pipeline; without one only the run's own panels show. */
  sample: (() => Promise<TopSample>) | undefined;
  intervalMs: number;
  color: boolean;
  nodes: boolean;
  onError?: (err: unknown) => void;
}

/**
 * The container of a long run's live screen: it redraws the run's status every `RUN_REDRAW_MS` and
 * refreshes the pipeline's view every `intervalMs`; the panels get plain props. No keys: Ctrl-C
 * reaches the command as a signal, and the run cleans up as it does off a terminal.
 */
export function RunApp(props: RunAppProps) {
  const [now, setNow] = useState(Date.now);
  const { columns, rows } = useTerminalSize();
  const view = useSampledView({ ...props, target: props.status().title });
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), RUN_REDRAW_MS);
    return () => clearInterval(timer);
  }, []);
  return (
    <RunScreen
      status={props.status()}
      view={view}
      lines={props.lines()}
      now={now}
      columns={columns}
      rows={rows}
      color={props.color}
      nodes={props.nodes}
    />
  );
}

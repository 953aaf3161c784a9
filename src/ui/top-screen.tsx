import { Box } from 'ink';
import { AlertsFeed } from './alerts-feed.js';
import { EventsFeed } from './events-feed.js';
import { LatencyChart } from './latency-chart.js';
import { Header } from './header.js';
import { NodesTable } from './nodes-table.js';
import { StagesTable } from './stages-table.js';
import type { TopView } from './top-view.js';

/** The panel the arrows scroll. */
export type Focus = 'events' | 'alerts';

/** What the screen shows at one moment: the whole layout, from plain props (no state of its own). */
export interface ScreenProps {
  view: TopView;
  columns: number;
  rows: number;
  paused: boolean;
  color: boolean;
  focus: Focus;
  scroll: number;
}

/** The `top` screen: header, stages, nodes, latency, events and alerts; sized to `columns` x `rows` (80x24 at least). */
export function TopScreen(p: ScreenProps) {
  const sparkWidth = Math.max(10, Math.min(60, p.columns - 62));
  const used =
    2 + Math.min(2, p.view.problems.length) + (p.view.stages.length || 1) + 1 + 4 + p.view.nodes.length + 1 + 3;
  const feedHeight = Math.max(2, p.rows - used);
  const wide = p.columns >= 120;
  // Side by side when wide, else one above the other, sharing the height.
  const feed = (which: Focus, share: (n: number) => number) => ({
    height: wide ? feedHeight : Math.max(1, share(feedHeight / 2) - 1),
    scroll: p.focus === which ? p.scroll : 0,
    focused: p.focus === which,
    color: p.color,
  });
  return (
    <Box flexDirection="column" width={p.columns}>
      <Header view={p.view} paused={p.paused} color={p.color} />
      <Box marginTop={1}>
        <StagesTable stages={p.view.stages} sparkWidth={sparkWidth} color={p.color} />
      </Box>
      <Box marginTop={1}>
        <NodesTable nodes={p.view.nodes} barWidth={Math.max(8, Math.min(20, p.columns - 70))} color={p.color} />
      </Box>
      <Box marginTop={1}>
        <LatencyChart points={p.view.latency} width={Math.max(20, Math.min(60, p.columns - 20))} color={p.color} />
      </Box>
      <Box marginTop={1} flexDirection={wide ? 'row' : 'column'}>
        <Box width={wide ? Math.floor(p.columns / 2) : p.columns} paddingRight={wide ? 2 : 0}>
          <EventsFeed events={p.view.events} {...feed('events', Math.floor)} />
        </Box>
        <AlertsFeed alerts={p.view.alerts} {...feed('alerts', Math.ceil)} />
      </Box>
    </Box>
  );
}

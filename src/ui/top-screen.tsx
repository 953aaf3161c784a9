import { Box } from 'ink';
import { AlertsFeed } from './alerts-feed.js';
import { EventsFeed } from './events-feed.js';
import { Header } from './header.js';
import { PipelinePanels, pipelinePanelsHeight } from './pipeline-panels.js';
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
  // The header, the panels, the feeds' margin and titles.
  const used = 1 + Math.min(2, p.view.problems.length) + pipelinePanelsHeight(p.view, true) + 2;
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
      <PipelinePanels view={p.view} columns={p.columns} color={p.color} nodes />
      <Box marginTop={1} flexDirection={wide ? 'row' : 'column'}>
        <Box width={wide ? Math.floor(p.columns / 2) : p.columns} paddingRight={wide ? 2 : 0}>
          <EventsFeed events={p.view.events} {...feed('events', Math.floor)} />
        </Box>
        <AlertsFeed alerts={p.view.alerts} {...feed('alerts', Math.ceil)} />
      </Box>
    </Box>
  );
}

import { Box } from 'ink';
import { EventsFeed } from './events-feed.js';
import { Header } from './header.js';
import { NodesTable } from './nodes-table.js';
import { StagesTable } from './stages-table.js';
import type { TopView } from './top-view.js';

/** What the screen shows at one moment: the whole layout, from plain props (no state of its own). */
export interface ScreenProps {
  view: TopView;
  columns: number;
  rows: number;
  paused: boolean;
  color: boolean;
  focus: 'events';
  scroll: number;
}

/** The `top` screen: header, stages, nodes, events; sized to `columns` x `rows` (80x24 at least). */
export function TopScreen(p: ScreenProps) {
  const sparkWidth = Math.max(10, Math.min(60, p.columns - 62));
  const used = 2 + Math.min(2, p.view.problems.length) + (p.view.stages.length || 1) + 1 + p.view.nodes.length + 1 + 3;
  const eventsHeight = Math.max(2, p.rows - used);
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
        <EventsFeed
          events={p.view.events}
          height={eventsHeight}
          scroll={p.scroll}
          focused={p.focus === 'events'}
          color={p.color}
        />
      </Box>
    </Box>
  );
}

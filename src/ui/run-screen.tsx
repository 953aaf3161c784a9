import { Box, Text } from 'ink';
import { Feed } from './feed.js';
import { PipelinePanels, pipelinePanelsHeight } from './pipeline-panels.js';
import { RunHeader } from './run-header.js';
import type { RunStatus } from './run-status.js';
import type { TopView } from './top-view.js';

/** What a run's screen shows at one moment, from plain props. */
export interface RunScreenProps {
  status: RunStatus;
  /** The pipeline as `top` sees it: the stages' rates, the nodes, the end-to-end latency. */
  view: TopView;
  /** The run's own lines (what it printed off a terminal), newest last. */
  lines: readonly string[];
  now: number;
  columns: number;
  rows: number;
  color: boolean;
  /** Whether the nodes table is shown (a chaos run: the faults act on them). */
  nodes: boolean;
}

/** A long run's screen: its header, then `top`'s stages, nodes and latency panels, then its own lines. */
export function RunScreen(p: RunScreenProps) {
  // The header, the panels, the feed's margin and title.
  const used = 2 + (p.status.gates ? 1 : 0) + pipelinePanelsHeight(p.view, p.nodes) + 2;
  return (
    <Box flexDirection="column" width={p.columns}>
      <RunHeader status={p.status} now={p.now} width={p.columns} color={p.color} />
      <PipelinePanels view={p.view} columns={p.columns} color={p.color} nodes={p.nodes} />
      <Box marginTop={1}>
        <Feed
          title="RUN"
          items={[...p.lines]}
          height={Math.max(2, p.rows - used)}
          scroll={0}
          focused={false}
          color={p.color}
          keyOf={(_, i) => String(i)}
          line={(l) => <Text>{l}</Text>}
        />
      </Box>
    </Box>
  );
}

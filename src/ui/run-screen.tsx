import { Box, Text } from 'ink';
import { Feed } from './feed.js';
import { LatencyChart } from './latency-chart.js';
import { NodesTable } from './nodes-table.js';
import { RunHeader } from './run-header.js';
import type { RunStatus } from './run-status.js';
import { StagesTable } from './stages-table.js';
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
  const sparkWidth = Math.max(10, Math.min(60, p.columns - 62));
  const used =
    3 + (p.status.gates ? 1 : 0) + (p.view.stages.length || 1) + 1 + 4 + (p.nodes ? p.view.nodes.length + 2 : 0) + 2;
  return (
    <Box flexDirection="column" width={p.columns}>
      <RunHeader status={p.status} now={p.now} width={p.columns} color={p.color} />
      <Box marginTop={1}>
        <StagesTable stages={p.view.stages} sparkWidth={sparkWidth} color={p.color} />
      </Box>
      {p.nodes ? (
        <Box marginTop={1}>
          <NodesTable nodes={p.view.nodes} barWidth={Math.max(8, Math.min(20, p.columns - 70))} color={p.color} />
        </Box>
      ) : null}
      <Box marginTop={1}>
        <LatencyChart points={p.view.latency} width={Math.max(20, Math.min(60, p.columns - 20))} color={p.color} />
      </Box>
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

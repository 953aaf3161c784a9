import { Box } from 'ink';
import { LatencyChart } from './latency-chart.js';
import { NodesTable } from './nodes-table.js';
import { StagesTable } from './stages-table.js';
import type { TopView } from './top-view.js';

/** The pipeline as `top` shows it, from plain props: the stages, the nodes (with `nodes`), the latency. */
export interface PipelinePanelsProps {
  view: TopView;
  columns: number;
  color: boolean;
  nodes: boolean;
}

/** Lines the panels take, their top margins included (the latency chart counted at its full height). */
export function pipelinePanelsHeight(view: TopView, nodes: boolean): number {
  return (view.stages.length || 1) + 2 + (nodes ? view.nodes.length + 2 : 0) + 4;
}

/** The stages with their rate sparklines, the nodes with their memory bars, and the end-to-end latency chart. */
export function PipelinePanels(p: PipelinePanelsProps) {
  return (
    <>
      <Box marginTop={1}>
        <StagesTable stages={p.view.stages} sparkWidth={Math.max(10, Math.min(60, p.columns - 62))} color={p.color} />
      </Box>
      {p.nodes ? (
        <Box marginTop={1}>
          <NodesTable nodes={p.view.nodes} barWidth={Math.max(8, Math.min(20, p.columns - 70))} color={p.color} />
        </Box>
      ) : null}
      <Box marginTop={1}>
        <LatencyChart points={p.view.latency} width={Math.max(20, Math.min(60, p.columns - 20))} color={p.color} />
      </Box>
    </>
  );
}

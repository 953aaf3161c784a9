import { Box, Text } from 'ink';
import { sparkline } from './format.js';
import type { LatencyPoint } from './top-view.js';

const ms = (s: number | undefined) =>
  s === undefined ? '-' : s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;

/** End-to-end p50 and p99 over the last minute, now and at each of the last refreshes. */
export function LatencyChart(props: { points: LatencyPoint[]; width: number; color: boolean }) {
  const { points, width, color } = props;
  const last = points.at(-1);
  const line = (pick: (p: LatencyPoint) => number | undefined) =>
    sparkline(
      points.map((p) => pick(p) ?? 0),
      width,
    );
  if (!last || last.p99 === undefined)
    return <Text dimColor>end-to-end latency: no event committed in the last minute</Text>;
  return (
    <Box flexDirection="column">
      <Text bold>END-TO-END LATENCY (last minute)</Text>
      <Text>
        {'p50 '}
        <Text color={color ? 'green' : undefined}>{line((p) => p.p50)}</Text> {ms(last.p50)}
      </Text>
      <Text>
        {'p99 '}
        <Text color={color ? 'yellow' : undefined}>{line((p) => p.p99)}</Text> {ms(last.p99)}
      </Text>
    </Box>
  );
}

import { Box, Text } from 'ink';
import { formatBytes } from '../table.js';
import { bar } from './format.js';
import type { NodeRow } from './top-view.js';

/** Per Redis node: role, up or down, memory against maxmemory (or used alone), and how it changed. */
export function NodesTable(props: { nodes: NodeRow[]; barWidth: number; color: boolean }) {
  const { nodes, barWidth, color } = props;
  return (
    <Box flexDirection="column">
      <Text bold>
        {'NODE'.padEnd(22)}
        {'ROLE'.padEnd(9)}
        {'STATE'.padEnd(6)}
        {'MEMORY'}
      </Text>
      {nodes.map((n) => (
        <Text key={n.address} wrap="truncate-end">
          {n.address.padEnd(22)}
          {n.role.padEnd(9)}
          <Text color={color ? (n.up ? 'green' : 'red') : undefined}>{(n.up ? 'up' : 'DOWN').padEnd(6)}</Text>
          {n.usedMemory === undefined
            ? '-'
            : n.maxmemory
              ? `${bar(n.usedMemory, n.maxmemory, barWidth)} ${formatBytes(n.usedMemory)} of ${formatBytes(n.maxmemory)}`
              : `${formatBytes(n.usedMemory)} (no maxmemory)`}
          {n.change ? <Text color={color ? 'yellow' : undefined}> {n.change}</Text> : null}
        </Text>
      ))}
    </Box>
  );
}

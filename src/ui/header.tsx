import { Box, Text } from 'ink';
import { formatDuration } from '../duration.js';
import type { TopView } from './top-view.js';

const STATUS_COLOR = { ok: 'green', degraded: 'yellow', down: 'red' } as const;

/** The first line: what is watched, its status, since when, and whether the refresh is paused. */
export function Header(props: { view: TopView; paused: boolean; color: boolean }) {
  const { view, paused, color } = props;
  return (
    <Box flexDirection="column">
      <Box justifyContent="space-between">
        <Text bold wrap="truncate-middle">
          streamctl top {view.target}
        </Text>
        <Text>
          {paused ? <Text inverse> PAUSED </Text> : null}{' '}
          <Text color={color ? STATUS_COLOR[view.status] : undefined} bold>
            {view.checkedAt ? view.status.toUpperCase() : 'WAITING'}
          </Text>
          {view.uptimeMs !== undefined ? `  up ${formatDuration(view.uptimeMs)}` : ''}
        </Text>
      </Box>
      {view.problems.slice(0, 2).map((p) => (
        <Text key={p} color={color ? 'yellow' : undefined} wrap="truncate-end">
          ! {p}
        </Text>
      ))}
    </Box>
  );
}

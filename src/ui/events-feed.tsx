import { Box, Text } from 'ink';
import type { DeploymentEvent } from '../observe/snapshot.js';

const KIND_COLOR: Partial<Record<DeploymentEvent['kind'], string>> = {
  failover: 'magenta',
  restart: 'yellow',
  exit: 'red',
  'gave-up': 'red',
  failed: 'red',
};

/**
 * The deployment's events, newest at the bottom; `scroll` lines up from the newest (the arrows move
 * it when the feed has the focus).
 */
export function EventsFeed(props: {
  events: DeploymentEvent[];
  height: number;
  scroll: number;
  focused: boolean;
  color: boolean;
}) {
  const { events, height, scroll, focused, color } = props;
  const end = Math.max(0, events.length - scroll);
  const shown = events.slice(Math.max(0, end - height), end);
  return (
    <Box flexDirection="column">
      <Text bold inverse={focused}>
        EVENTS{events.length > height ? ` (${end} of ${events.length}; arrows scroll)` : ''}
      </Text>
      {shown.length === 0 ? <Text dimColor>none yet</Text> : null}
      {shown.map((e, i) => (
        <Text key={`${e.time}-${i}`} wrap="truncate-end">
          {e.time.slice(11, 19)} <Text color={color ? KIND_COLOR[e.kind] : undefined}>{e.kind.padEnd(8)}</Text>{' '}
          {e.process}
          {e.reason ? `  ${e.reason}` : ''}
        </Text>
      ))}
    </Box>
  );
}

import { Box, Text } from 'ink';
import { formatDuration } from '../duration.js';
import { bar } from './format.js';
import type { RunStatus } from './run-status.js';

/** A run's first lines: what runs and its phase, the time against the plan, the figures and gates so far. */
export function RunHeader(props: { status: RunStatus; now: number; width: number; color: boolean }) {
  const { status, now, width, color } = props;
  const elapsed = Math.max(0, now - status.startedAt);
  const planned = status.plannedMs;
  const g = status.gates;
  return (
    <Box flexDirection="column">
      <Box justifyContent="space-between">
        <Text bold wrap="truncate-middle">
          streamctl {status.title}
        </Text>
        <Text>
          <Text color={color ? 'cyan' : undefined} bold>
            {status.phase.toUpperCase()}
          </Text>
          {`  ${formatDuration(elapsed)}${planned ? ` of ${formatDuration(planned)}` : ''}`}
        </Text>
      </Box>
      <Text wrap="truncate-end">
        {planned ? `${bar(elapsed, planned, Math.max(10, Math.min(30, width - 50)))}  ` : ''}
        {status.figures.map(([label, value]) => `${label} ${value}`).join('   ')}
      </Text>
      {g ? (
        <Text wrap="truncate-end">
          {'gates: '}
          <Text color={color ? 'green' : undefined}>{g.held} held</Text>
          {', '}
          <Text color={color && g.failed > 0 ? 'red' : undefined}>{g.failed} failed</Text>
          {g.last ? `   last: ${g.last}` : ''}
        </Text>
      ) : null}
    </Box>
  );
}

import { Box, Text } from 'ink';
import { count, sparkline } from './format.js';
import type { StageRow } from './top-view.js';

/** Per stage: workers live of configured, the rate and its sparkline over the last refreshes, lag, pending, dead letters. */
export function StagesTable(props: { stages: StageRow[]; sparkWidth: number; color: boolean }) {
  const { stages, sparkWidth, color } = props;
  if (stages.length === 0) return <Text dimColor>no stage yet (no consumer group in the namespace)</Text>;
  return (
    <Box flexDirection="column">
      <Text bold>
        {'STAGE'.padEnd(12)}
        {'WORKERS'.padStart(8)}
        {'EV/S'.padStart(9)} {'RATE'.padEnd(sparkWidth)}
        {'LAG'.padStart(9)}
        {'PENDING'.padStart(9)}
        {'DLQ'.padStart(6)}
      </Text>
      {stages.map((s) => {
        const short = s.configured !== undefined && s.live < s.configured;
        return (
          <Text key={s.stage} wrap="truncate-end">
            {s.stage.slice(0, 11).padEnd(12)}
            <Text color={color && short ? 'red' : undefined}>
              {`${s.live}${s.configured !== undefined ? `/${s.configured}` : ''}`.padStart(8)}
            </Text>
            {count(s.rate).padStart(9)}{' '}
            <Text color={color ? 'cyan' : undefined}>{sparkline(s.history, sparkWidth)}</Text>
            {count(s.lag).padStart(9)}
            {count(s.pending).padStart(9)}
            <Text color={color && s.deadLetters > 0 ? 'yellow' : undefined}>{count(s.deadLetters).padStart(6)}</Text>
          </Text>
        );
      })}
    </Box>
  );
}

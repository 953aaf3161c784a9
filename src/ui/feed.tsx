import { Box, Text } from 'ink';
import type { ReactNode } from 'react';

/** Where a feed sits on the screen: its height, where it is scrolled to, its focus, colour or not. */
export interface FeedPanel {
  height: number;
  /** Lines up from the newest (the arrows move it while the feed has the focus). */
  scroll: number;
  focused: boolean;
  color: boolean;
}

/** What a feed is given: its lines, newest last, and how to draw one. */
export interface FeedProps<T> extends FeedPanel {
  title: string;
  items: T[];
  line: (item: T) => ReactNode;
  keyOf: (item: T, index: number) => string;
}

/** A feed: a title (inverse when focused) and the `height` lines that end `scroll` lines above the newest. */
export function Feed<T>(p: FeedProps<T>) {
  const end = Math.max(0, p.items.length - p.scroll);
  const shown = p.items.slice(Math.max(0, end - p.height), end);
  return (
    <Box flexDirection="column">
      <Text bold inverse={p.focused}>
        {p.title}
        {p.items.length > p.height ? ` (${end} of ${p.items.length})` : ''}
      </Text>
      {shown.length === 0 ? <Text dimColor>none yet</Text> : null}
      {shown.map((item, i) => (
        <Text key={p.keyOf(item, i)} wrap="truncate-end">
          {p.line(item)}
        </Text>
      ))}
    </Box>
  );
}

import { Text } from 'ink';
import { Feed, type FeedPanel } from './feed.js';
import type { AlertRow } from './top-view.js';

/** The cep alerts (event time, rule, key, kind), newest at the bottom. */
export function AlertsFeed(props: { alerts: AlertRow[] } & FeedPanel) {
  return (
    <Feed
      title="ALERTS"
      {...props}
      items={props.alerts}
      keyOf={(a, i) => `${a.time}-${a.key}-${i}`}
      line={(a) => (
        <>
          {new Date(a.time).toISOString().slice(11, 19)}{' '}
          <Text color={props.color ? 'magenta' : undefined}>{a.rule.padEnd(18)}</Text> {a.key} {a.kind}
        </>
      )}
    />
  );
}

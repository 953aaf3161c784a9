import { Text } from 'ink';
import { Feed, type FeedPanel } from './feed.js';
import type { DeploymentEvent } from '../observe/snapshot.js';

const KIND_COLOR: Partial<Record<DeploymentEvent['kind'], string>> = {
  fault: 'red',
  healed: 'green',
  failover: 'magenta',
  restart: 'yellow',
  exit: 'red',
  'gave-up': 'red',
  failed: 'red',
};

/** The deployment's events (exits, restarts, failovers) and the faults applied and healed, newest at the bottom. */
export function EventsFeed(props: { events: DeploymentEvent[] } & FeedPanel) {
  return (
    <Feed
      title="EVENTS"
      {...props}
      items={props.events}
      keyOf={(e, i) => `${e.time}-${i}`}
      line={(e) => (
        <>
          {e.time.slice(11, 19)} <Text color={props.color ? KIND_COLOR[e.kind] : undefined}>{e.kind.padEnd(8)}</Text>{' '}
          {e.process}
          {e.reason ? `  ${e.reason}` : ''}
        </>
      )}
    />
  );
}

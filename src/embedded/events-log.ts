import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeploymentEvent } from '../observe/snapshot.js';

/** `<home>/events.log`: one JSON object a line, appended by the supervisor, read by `health`. */
export function eventsFile(home: string): string {
  return join(home, 'events.log');
}

/** Appends one event, stamped with the time; returns it as written. */
export function appendEvent(home: string, e: Omit<DeploymentEvent, 'time'>): DeploymentEvent {
  const event: DeploymentEvent = { time: new Date().toISOString(), ...e };
  mkdirSync(home, { recursive: true });
  appendFileSync(eventsFile(home), `${JSON.stringify(event)}\n`);
  return event;
}

/** The last `count` events, oldest first; lines that are not events (cut by a crash mid-write) are skipped. */
export function readEvents(home: string, count = 20): DeploymentEvent[] {
  const file = eventsFile(home);
  if (!existsSync(file)) return [];
  const out: DeploymentEvent[] = [];
  for (const line of readFileSync(file, 'utf8')
    .split('\n')
    .slice(-count - 1)) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as DeploymentEvent;
      if (typeof e.time === 'string' && typeof e.kind === 'string' && typeof e.process === 'string') out.push(e);
    } catch {
      // a partial line
    }
  }
  return out.slice(-count);
}

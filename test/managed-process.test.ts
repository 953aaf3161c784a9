import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ManagedProcess, type ProcessEvents } from '../src/embedded/supervised-process.js';

const events: ProcessEvents = { event: () => undefined, changed: () => undefined };
const limits = { initialDelayMs: 10, maxDelayMs: 10, stableMs: 60_000, limit: 5, windowMs: 60_000 };

describe('a supervised process that dies', () => {
  it('a child of the supervisor: its exit gives the reason, though a liveness check saw it dead first (a zombie)', async () => {
    const children: EventEmitter[] = [];
    let next = 100;
    const p = new ManagedProcess(
      { kind: 'node', name: '127.0.0.1:7000' },
      {
        spawn: async () => {
          const child = new EventEmitter();
          children.push(child);
          return { pid: next++, child: child as unknown as ChildProcess };
        },
        // Killed and not reaped yet: a zombie, which the node's liveness check counts as dead.
        alive: () => false,
      },
      events,
      'on-failure',
      limits,
    );
    await p.start();
    p.check();
    expect(p.state).toBe('running');
    children[0]!.emit('exit', null, 'SIGKILL');
    expect(p.lastExit?.reason).toBe('signal SIGKILL');
  });

  it('one adopted from an earlier supervisor (no child handle): the liveness check finds it gone', () => {
    const p = new ManagedProcess(
      { kind: 'node', name: '127.0.0.1:7000' },
      { spawn: async () => ({ pid: 1 }), alive: () => false },
      events,
      'never',
      limits,
    );
    p.adopt({ pid: 42 });
    p.check();
    expect(p.lastExit?.reason).toBe('gone');
    expect(p.state).toBe('gave-up');
  });
});

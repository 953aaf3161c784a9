import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../src/chaos/proxy/fault-proxy.js';
import { findFreePorts } from '../src/embedded/ports.js';
import { waitFor } from '../src/wait.js';
import { randomBasePort, startRedis, type TestServer } from './helpers/redis.js';

let server: TestServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server?.stop());

/** Proxies and clients of the running test, closed after it whatever its outcome. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startProxy(port = server.port): Promise<{ proxy: FaultProxy; port: number }> {
  const proxy = new FaultProxy({ host: '127.0.0.1', port });
  cleanups.push(() => proxy.close());
  return { proxy, port: await proxy.listen() };
}

function ioredis(port: number, opts: { commandTimeout?: number } = {}): Redis {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...opts,
  });
  r.on('error', () => {});
  cleanups.push(() => r.disconnect());
  return r;
}

const resp = (...args: string[]) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
const PING = resp('PING');
const PONG = '+PONG\r\n';

/** A plain socket that keeps what it receives and how it ended, to see exactly what the proxy passed. */
interface RawClient {
  socket: Socket;
  text(): string;
  /** Resolves once `pred` holds for what was received; rejects after `timeoutMs`, naming what came. */
  until(pred: (text: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Settles with the error the socket had (if any) once it is closed. */
  closed: Promise<NodeJS.ErrnoException | undefined>;
  isClosed(): boolean;
}

async function rawClient(port: number): Promise<RawClient> {
  const socket = connect({ host: '127.0.0.1', port });
  cleanups.push(() => socket.destroy());
  let text = '';
  let error: NodeJS.ErrnoException | undefined;
  let closed = false;
  const waiters = new Set<() => void>();
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    text += d;
    for (const w of [...waiters]) w();
  });
  socket.on('error', (err) => void (error = err));
  const closedP = new Promise<NodeJS.ErrnoException | undefined>((resolve) =>
    socket.once('close', () => {
      closed = true;
      for (const w of [...waiters]) w();
      resolve(error);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(error ?? new Error('closed before connecting')));
  });
  return {
    socket,
    text: () => text,
    closed: closedP,
    isClosed: () => closed,
    until(pred, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pred(text)) done(() => resolve(text));
          else if (closed) done(() => reject(new Error(`closed; received ${JSON.stringify(text)}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`timed out; received ${JSON.stringify(text)}`))),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Count of `needle` in `text`. */
const count = (text: string, needle: string) => text.split(needle).length - 1;

/** Milliseconds `f` takes. */
async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

/** Waits until `pred` holds on the proxy's stats (the proxy counts asynchronously to the client). */
function statsUntil(proxy: FaultProxy, pred: (s: ReturnType<FaultProxy['stats']>) => boolean, what: string) {
  return waitFor(async () => (pred(proxy.stats()) ? proxy.stats() : undefined), {
    timeoutMs: 5000,
    intervalMs: 10,
    onTimeout: () => new Error(`stats never showed ${what}: ${JSON.stringify(proxy.stats())}`),
  });
}

describe('FaultProxy without toxics', () => {
  it('forwards a PING, and counts the connection and the bytes of each direction', async () => {
    const { proxy, port } = await startProxy();
    const c = await rawClient(port);
    c.socket.write(PING);
    await c.until((t) => t === PONG);
    const s = await statsUntil(proxy, (s) => s.bytes.downstream.forwarded === PONG.length, 'the PONG');
    expect(s.connections).toEqual({ accepted: 1, open: 1, upstreamFailed: 0, upstreamPorts: [expect.any(Number)] });
    expect(s.bytes).toEqual({
      upstream: { received: PING.length, forwarded: PING.length },
      downstream: { received: PONG.length, forwarded: PONG.length },
    });
    expect(s.toxics).toEqual({});

    c.socket.end();
    await c.closed;
    await statsUntil(proxy, (s) => s.connections.open === 0, 'the connection closed');
  });

  it('serves ioredis commands, a large value intact both ways', async () => {
    const { proxy, port } = await startProxy();
    const r = ioredis(port);
    await r.connect();
    const value = randomBytes(300_000).toString('hex');
    expect(await r.set('fp:plain', value)).toBe('OK');
    expect(await r.get('fp:plain')).toBe(value);
    expect(proxy.stats().bytes.downstream.forwarded).toBeGreaterThan(600_000);
  });

  it('closes the client quietly when the upstream cannot be reached', async () => {
    const [deadPort] = await findFreePorts(randomBasePort(), 1, false);
    const { proxy, port } = await startProxy(deadPort!);
    const c = await rawClient(port);
    await c.closed;
    expect(c.text()).toBe('');
    expect((await statsUntil(proxy, (s) => s.connections.open === 0, 'no open connection')).connections).toEqual({
      accepted: 1,
      open: 0,
      upstreamFailed: 1,
      upstreamPorts: [],
    });
  });

  it('close() ends open connections, is idempotent, and refuses new ones', async () => {
    const { proxy, port } = await startProxy();
    const c = await rawClient(port);
    c.socket.write(PING);
    await c.until((t) => t === PONG);
    await Promise.all([proxy.close(), proxy.close()]);
    await c.closed;
    await expect(rawClient(port)).rejects.toThrow();
    await proxy.close();
  });
});

describe('latency', () => {
  it.each([
    { direction: 'upstream', ms: 80, min: 80 },
    { direction: 'downstream', ms: 80, min: 80 },
    { direction: 'both', ms: 50, min: 100 },
  ] as const)('$direction $ms ms delays a PING on a connection already open by >= $min ms', async (row) => {
    const { proxy, port } = await startProxy();
    const r = ioredis(port);
    await r.connect();
    expect((await timed(() => r.ping())).ms).toBeLessThan(row.min);

    proxy.addToxic({ name: 'slow', type: 'latency', direction: row.direction, ms: row.ms });
    const slow = await timed(() => r.ping());
    expect(slow.value).toBe('PONG');
    expect(slow.ms).toBeGreaterThanOrEqual(row.min);
    expect(proxy.stats().toxics.slow).toMatchObject({ type: 'latency', direction: row.direction });
    expect(proxy.stats().toxics.slow!.bytes).toBeGreaterThan(0);
  });

  it('50 ms each way: a PING takes >= 100 ms through the proxy, not direct, and is fast again once removed', async () => {
    const { proxy, port } = await startProxy();
    const viaProxy = ioredis(port);
    const direct = ioredis(server.port);
    await Promise.all([viaProxy.connect(), direct.connect()]);
    proxy.addToxic({ name: 'lat', type: 'latency', ms: 50 });

    expect((await timed(() => viaProxy.ping())).ms).toBeGreaterThanOrEqual(100);
    expect((await timed(() => direct.ping())).ms).toBeLessThan(100);
    // Each way: the PING delayed upstream, the PONG downstream.
    expect(proxy.stats().toxics.lat!.bytes).toBe(PING.length + PONG.length);

    expect(proxy.removeToxic('lat')).toBe(true);
    expect(proxy.removeToxic('lat')).toBe(false);
    expect(proxy.toxics()).toEqual([]);
    expect((await timed(() => viaProxy.ping())).ms).toBeLessThan(100);
  });

  it('a toxic removed releases at once what it holds', async () => {
    const { proxy, port } = await startProxy();
    const c = await rawClient(port);
    proxy.addToxic({ name: 'long', type: 'latency', direction: 'upstream', ms: 5000 });
    const t0 = performance.now();
    c.socket.write(PING);
    await statsUntil(proxy, (s) => s.toxics.long!.bytes === PING.length, 'the PING held');
    expect(c.text()).toBe('');
    proxy.removeToxic('long');
    await c.until((t) => t === PONG, 2000);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('never reorders bytes under jitter, even with each chunk sliced small', async () => {
    const { proxy, port } = await startProxy();
    const c = await rawClient(port);
    await new Promise<void>((resolve) => c.socket.write(resp('DEL', 'fp:order'), () => resolve()));
    await c.until((t) => t.endsWith('\r\n'));
    // Slicing first gives latency many pieces, each with its own jittered delay.
    proxy.addToxic({ name: 'slice', type: 'slicer', averageSize: 6, sizeVariation: 4, delayUs: 0 });
    proxy.addToxic({ name: 'jitter', type: 'latency', ms: 15, jitterMs: 15 });
    const n = 200;
    for (let i = 0; i < n; i++) c.socket.write(resp('INCR', 'fp:order'));
    const expected = c.text() + Array.from({ length: n }, (_, i) => `:${i + 1}\r\n`).join('');
    const got = await c.until((t) => t.length >= expected.length, 10_000);
    expect(got).toBe(expected);
    expect(proxy.stats().toxics.jitter!.bytes).toBeGreaterThan(0);
    expect(proxy.stats().toxics.slice!.bytes).toBeGreaterThan(0);
  });
});

describe('bandwidth', () => {
  it('100 kbps paces a 150 KB SET to >= 1.5 s, the value intact', async () => {
    const { proxy, port } = await startProxy();
    const r = ioredis(port);
    await r.connect();
    const value = randomBytes(75_000).toString('hex');
    proxy.addToxic({ name: 'narrow', type: 'bandwidth', direction: 'upstream', kbps: 100 });
    const { ms, value: reply } = await timed(() => r.set('fp:bw', value));
    expect(reply).toBe('OK');
    expect(ms).toBeGreaterThanOrEqual(1500);
    expect(ms).toBeLessThan(6000);
    expect(proxy.stats().toxics.narrow!.bytes).toBeGreaterThan(150_000);
    proxy.removeToxic('narrow');
    expect(await r.get('fp:bw')).toBe(value);
  });
});

describe('blackhole', () => {
  it.each(['upstream', 'downstream', 'both'] as const)(
    '%s: a PING gets no answer, the connection stays open; once removed, it and new ones work',
    async (direction) => {
      const { proxy, port } = await startProxy();
      const c = await rawClient(port);
      c.socket.write(PING);
      await c.until((t) => t === PONG);

      proxy.addToxic({ name: 'hole', type: 'blackhole', direction });
      c.socket.write(PING);
      await expect(c.until((t) => t.length > PONG.length, 500)).rejects.toThrow(/timed out/);
      // The dropped side: the PING itself, or the PONG Redis sent back.
      await statsUntil(proxy, (s) => s.toxics.hole!.bytes > 0, 'bytes in the blackhole');
      expect(c.isClosed()).toBe(false);
      expect(proxy.stats().connections.open).toBe(1);

      proxy.removeToxic('hole');
      c.socket.write(PING);
      await c.until((t) => count(t, PONG) === 2);
      const fresh = await rawClient(port);
      fresh.socket.write(PING);
      await fresh.until((t) => t === PONG);
    },
  );

  it('through ioredis: a command times out', async () => {
    const { proxy, port } = await startProxy();
    const r = ioredis(port, { commandTimeout: 500 });
    await r.connect();
    proxy.addToxic({ name: 'hole', type: 'blackhole', direction: 'upstream' });
    await expect(r.ping()).rejects.toThrow(/timed out/i);
    expect(proxy.stats().toxics.hole!.bytes).toBe(PING.length);
  });
});

describe('reset_peer', () => {
  it('resets the open connections and new ones; once removed, new connections work', async () => {
    const { proxy, port } = await startProxy();
    const c = await rawClient(port);
    c.socket.write(PING);
    await c.until((t) => t === PONG);

    proxy.addToxic({ name: 'rst', type: 'reset_peer' });
    expect((await c.closed)?.code).toBe('ECONNRESET');

    // The TCP handshake is the kernel's: the reset may come before or after the client sees 'connect'.
    const next = connect({ host: '127.0.0.1', port });
    cleanups.push(() => next.destroy());
    let received = '';
    next.on('connect', () => next.write(PING));
    next.on('data', (d) => void (received += d.toString('latin1')));
    const nextError = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      let error: NodeJS.ErrnoException | undefined;
      next.on('error', (err) => void (error = err));
      next.once('close', () => resolve(error));
    });
    expect(nextError?.code).toBe('ECONNRESET');
    expect(received).toBe('');
    const s = await statsUntil(proxy, (s) => s.connections.open === 0, 'no open connection');
    expect(s.toxics.rst).toEqual({ type: 'reset_peer', direction: 'both', bytes: 0, resets: 2 });

    proxy.removeToxic('rst');
    const after = await rawClient(port);
    after.socket.write(PING);
    await after.until((t) => t === PONG);
  });

  it('ioredis sees the connection reset', async () => {
    const { proxy, port } = await startProxy();
    const r = ioredis(port);
    await r.connect();
    const ended = new Promise<void>((resolve) => r.once('end', resolve));
    proxy.addToxic({ name: 'rst', type: 'reset_peer' });
    await ended;
    await expect(r.ping()).rejects.toThrow();
  });
});

describe('slicer', () => {
  it('a 1 MB value round-trips intact in small pieces', async () => {
    const { proxy, port } = await startProxy();
    const r = ioredis(port);
    await r.connect();
    proxy.addToxic({ name: 'slice', type: 'slicer', averageSize: 1000, sizeVariation: 500, delayUs: 20 });
    const value = randomBytes(500_000).toString('hex');
    expect(await r.set('fp:slice', value)).toBe('OK');
    expect(await r.get('fp:slice')).toBe(value);
    expect(proxy.stats().toxics.slice!.bytes).toBeGreaterThan(2_000_000);
  });
});

describe('limit_data', () => {
  it.each([
    // Downstream: the second PONG is cut after 3 bytes, then the connection closes.
    { direction: 'downstream', bytes: PONG.length + 3, received: PONG + '+PO' },
    // Upstream: the second PING reaches Redis only in part, so it is never answered.
    { direction: 'upstream', bytes: PING.length + 6, received: PONG },
  ] as const)('$direction $bytes bytes: closes the connection after the limit', async (row) => {
    const { proxy, port } = await startProxy();
    proxy.addToxic({ name: 'cap', type: 'limit_data', direction: row.direction, bytes: row.bytes });
    const c = await rawClient(port);
    c.socket.write(PING);
    await c.until((t) => t.startsWith(PONG));
    c.socket.write(PING);
    const err = await c.closed;
    expect(err).toBeUndefined();
    expect(c.text()).toBe(row.received);
    const s = await statsUntil(proxy, (s) => s.connections.open === 0, 'no open connection');
    expect(s.toxics.cap!.bytes).toBe(row.bytes);
  });
});

describe('backpressure', () => {
  it('a client that does not read makes the proxy stop reading Redis, and nothing is lost', async () => {
    const { proxy, port } = await startProxy();
    const admin = ioredis(server.port);
    await admin.connect();
    const MB = 1_000_000;
    await admin.set('fp:big', 'v'.repeat(MB));
    const c = await rawClient(port);
    c.socket.pause();
    const n = 40;
    c.socket.write(resp('CLIENT', 'SETNAME', 'fp-slow') + resp('GET', 'fp:big').repeat(n));
    // Settled: Redis holds output for the proxy's connection, and the proxy took nothing more
    // since the last look (it stopped reading instead of buffering what its client does not take).
    let last = -1;
    const held = await waitFor(
      async () => {
        const received = proxy.stats().bytes.downstream.received;
        const omem = Number(((await admin.client('LIST')) as string).match(/name=fp-slow .*omem=(\d+)/)?.[1] ?? 0);
        const settled = omem > 0 && received === last;
        last = received;
        return settled ? proxy.stats().bytes.downstream : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, onTimeout: () => new Error('the proxy never stopped reading Redis') },
    );
    expect(held.received).toBeLessThan((n * MB) / 2);

    c.socket.resume();
    const expectedLength = '+OK\r\n'.length + n * `$${MB}\r\n`.length + n * (MB + 2);
    await c.until((t) => t.length >= expectedLength, 20_000);
    expect(c.text().length).toBe(expectedLength);
    expect(proxy.stats().bytes.downstream).toEqual({ received: expectedLength, forwarded: expectedLength });
  });
  it('a latency toxic holds at most about 1 MB: past it the proxy stops reading the client', async () => {
    const { proxy, port } = await startProxy();
    proxy.addToxic({ name: 'hold', type: 'latency', direction: 'upstream', ms: 60_000 });
    const c = await rawClient(port);
    const size = 8_000_000;
    c.socket.write(resp('SET', 'fp:queued', 'q'.repeat(size)));
    let last = -1;
    const held = await waitFor(
      async () => {
        const received = proxy.stats().bytes.upstream.received;
        const settled = received > 0 && received === last && c.socket.writableLength > 0;
        last = received;
        return settled ? received : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, onTimeout: () => new Error('the proxy never stopped reading the client') },
    );
    expect(held).toBeLessThan(2_000_000);
    expect(proxy.stats().bytes.upstream.forwarded).toBe(0);

    proxy.removeToxic('hold');
    await c.until((t) => t === '+OK\r\n', 20_000);
    expect(proxy.stats().bytes.upstream.forwarded).toBeGreaterThan(size);
  });
});

describe('closing', () => {
  it('a client that half-closes still gets what a toxic holds for it, then the connection ends cleanly', async () => {
    const { proxy, port } = await startProxy();
    proxy.addToxic({ name: 'slow', type: 'latency', direction: 'downstream', ms: 300 });
    const c = await rawClient(port);
    const t0 = performance.now();
    c.socket.write(PING);
    await statsUntil(proxy, (s) => s.toxics.slow!.bytes === PONG.length, 'the PONG held');
    // The FIN reaches Redis, which closes; the PONG queued behind the latency must still arrive.
    c.socket.end();
    expect(await c.closed).toBeUndefined();
    expect(c.text()).toBe(PONG);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    await statsUntil(proxy, (s) => s.connections.open === 0, 'no open connection');
  });
});

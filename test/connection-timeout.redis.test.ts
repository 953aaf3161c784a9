import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../src/chaos/proxy/fault-proxy.js';
import { createRedisFactory, type RedisConnection } from '../src/redis/connection.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { startRedis, type TestServer } from './helpers/redis.js';

/**
 * A network that dropped a request (a blackhole) leaves the connection waiting for an answer that
 * never comes: once the command timed out, streamctl's clients drop that connection and make a new
 * one, so the next commands get their own answers instead of hanging behind the lost one.
 */
describe('a command that timed out', () => {
  let server: TestServer;
  let proxy: FaultProxy;
  let conn: RedisConnection;
  beforeAll(async () => {
    server = await startRedis();
    proxy = new FaultProxy({ host: '127.0.0.1', port: server.port });
    const port = await proxy.listen(0);
    conn = await createRedisFactory().open({
      endpoints: parseRedisUrls(`redis://127.0.0.1:${port}`),
      source: '--redis',
    });
  });
  afterAll(async () => {
    await conn.close();
    await proxy.close();
    await server.stop();
  });

  it('drops its connection: after a blackhole heals, the next commands get their own answers', async () => {
    const client = conn.client();
    expect(await client.set('k', 'v')).toBe('OK');
    proxy.addToxic({ name: 'cut', type: 'blackhole' });
    await expect(client.get('k')).rejects.toThrow(/Command timed out/);
    proxy.removeToxic('cut');
    const t0 = performance.now();
    expect(await client.incr('n')).toBe(1);
    expect(await client.get('k')).toBe('v');
    // A new connection, not the old one waiting behind the lost request.
    expect(performance.now() - t0).toBeLessThan(4000);
    expect(proxy.stats().connections.accepted).toBeGreaterThanOrEqual(2);
  }, 30_000);
});

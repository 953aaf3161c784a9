import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sendControl } from '../src/embedded/control-client.js';
import type { ControlEndpoint, ControlRequest } from '../src/embedded/control-protocol.js';
import { controlFile, startControlServer, type ControlServer } from '../src/embedded/control-server.js';
import { RuntimeError, UsageError } from '../src/errors.js';
import { tempDir } from './helpers/redis.js';

let server: ControlServer | undefined;
const dirs: { remove: () => void }[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) d.remove();
});

/** A control server whose handler records what reached it. */
async function start() {
  const tmp = tempDir('streamctl-control-');
  dirs.push(tmp);
  const seen: ControlRequest[] = [];
  server = await startControlServer(tmp.dir, async (r) => {
    seen.push(r);
    if (r.kind === 'restart' && r.process === 'nope') throw new UsageError('UNKNOWN_PROCESS', 'no process "nope"');
    return { started: r.kind === 'restart' ? [r.process] : [], stopped: [] };
  });
  const endpoint = JSON.parse(readFileSync(controlFile(tmp.dir), 'utf8')) as ControlEndpoint;
  /** Posts `body` with `token` (none when null). */
  const post = (body: string, token: string | null) =>
    fetch(endpoint.url, {
      method: 'POST',
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      body,
    });
  return { home: tmp.dir, seen, endpoint, post };
}

describe('the control channel', () => {
  it('keeps its endpoint and token in a file only the owner can read', async () => {
    const { home, endpoint } = await start();
    expect(statSync(join(home, 'control.json')).mode & 0o777).toBe(0o600);
    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/requests$/);
    expect(endpoint.token).toMatch(/^[0-9a-f]{48}$/);
  });

  it('serves a request with the token, and says why it refuses one', async () => {
    const { home, seen } = await start();
    expect(await sendControl(home, { v: 1, kind: 'restart', process: '127.0.0.1:7001' })).toEqual({
      started: ['127.0.0.1:7001'],
      stopped: [],
    });
    const refused = await sendControl(home, { v: 1, kind: 'restart', process: 'nope' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ code: 'UNKNOWN_PROCESS', exitCode: 2 });
    expect(seen.map((r) => r.kind)).toEqual(['restart', 'restart']);
  });

  it.each([
    ['no token', null, '{"v":1,"kind":"status"}', 401, 'UNAUTHORIZED'],
    ['a wrong token', 'f'.repeat(48), '{"v":1,"kind":"status"}', 401, 'UNAUTHORIZED'],
    ['a body that is not JSON', 'ok', '{"v":1,"kind":', 400, 'MALFORMED'],
    ['another version', 'ok', '{"v":2,"kind":"status"}', 400, 'MALFORMED'],
    ['an unknown kind', 'ok', '{"v":1,"kind":"format-disk"}', 400, 'MALFORMED'],
    ['an unknown field', 'ok', '{"v":1,"kind":"status","force":true}', 400, 'MALFORMED'],
    ['a bad field', 'ok', '{"v":1,"kind":"scale","stage":"a","workers":-1}', 400, 'MALFORMED'],
  ])('refuses %s before the handler sees it', async (_, token, body, status, code) => {
    const { seen, post, endpoint } = await start();
    const res = await post(body, token === 'ok' ? endpoint.token : token);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ ok: false, error: { code } });
    expect(seen).toEqual([]);
  });

  it('without a running supervisor, a client is told so and what to do', async () => {
    const tmp = tempDir('streamctl-control-');
    dirs.push(tmp);
    const err = await sendControl(tmp.dir, { v: 1, kind: 'status' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err).toMatchObject({ code: 'NO_SUPERVISOR' });
    expect((err as RuntimeError).hint).toMatch(/streamctl up/);
  });
});

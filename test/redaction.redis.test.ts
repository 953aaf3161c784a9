import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redact } from '../src/redact.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { findFreePorts } from '../src/embedded/ports.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { randomBasePort, startRedis, type TestServer } from './helpers/redis.js';

const PASSWORD = 's3cr3t-Pa55';
const WRONG = 'Wr0ng-Secret-9';

let server: TestServer;

beforeAll(async () => {
  // Only alice may log in; the default user is off, so a missing or wrong password cannot pass.
  server = await startRedis(['--user', 'default', 'off', '--user', 'alice', 'on', `>${PASSWORD}`, '~*', '&*', '+@all']);
});

afterAll(async () => {
  await server?.stop();
});

function url(password: string, user = 'alice', port = server.port): string {
  return `redis://${user}:${password}@127.0.0.1:${port}`;
}

/** Fails when `secret`, raw or URL-encoded, appears anywhere the process wrote. */
function expectNotPrinted(r: CliResult, secret: string): void {
  for (const form of new Set([secret, encodeURIComponent(secret)])) {
    expect(r.stdout).not.toContain(form);
    expect(r.stderr).not.toContain(form);
  }
}

describe('passwords never reach the output of the CLI', () => {
  it('health --redis with the password in the URL: ok, and the target is shown redacted', async () => {
    const r = await runCli(['health', '--redis', url(PASSWORD), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe('ok');
    expect(report.target).toEqual([`redis://alice:***@127.0.0.1:${server.port}`]);
    expectNotPrinted(r, PASSWORD);
  });

  it('health --redis with a wrong password: REDIS_AUTH, exit 1, the wrong password not printed', async () => {
    const r = await runCli(['health', '--redis', url(WRONG), '--json'], { env: { STREAMCTL_DEBUG: '1' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/authentication failed/i);
    expect(r.stderr).toContain('hint:');
    const out = JSON.parse(r.stdout);
    expect(out.error.code).toBe('REDIS_AUTH');
    expect(out.error.exitCode).toBe(1);
    expect(out.error.message).toContain(`redis://alice:***@127.0.0.1:${server.port}`);
    expectNotPrinted(r, WRONG);
  });

  it('STREAMCTL_REDIS_URL with the password: JSON health is ok and redacted', async () => {
    const r = await runCli(['health', '--json'], { env: { STREAMCTL_REDIS_URL: url(PASSWORD) } });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe('ok');
    expect(report.target).toEqual([`redis://alice:***@127.0.0.1:${server.port}`]);
    expectNotPrinted(r, PASSWORD);
  });

  it('STREAMCTL_REDIS_URL with the password: text health is ok and redacted', async () => {
    const r = await runCli(['health'], { env: { STREAMCTL_REDIS_URL: url(PASSWORD) } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^status: OK\b/);
    expect(r.stdout).toContain(`via redis://alice:***@127.0.0.1:${server.port}`);
    expectNotPrinted(r, PASSWORD);
  });

  it('STREAMCTL_REDIS_URL with a wrong password: text error, exit 1, not printed', async () => {
    const r = await runCli(['health'], { env: { STREAMCTL_REDIS_URL: url(WRONG), STREAMCTL_DEBUG: '1' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/error: authentication failed at redis:\/\/alice:\*\*\*@127\.0\.0\.1:\d+/);
    expect(r.stderr).toContain('hint:');
    expectNotPrinted(r, WRONG);
  });

  it('a closed port: names the address, gives a hint, and does not print the password', async () => {
    const [closed] = await findFreePorts(randomBasePort(), 1, false);
    const r = await runCli(['health', '--redis', url('Cl0sed-Pw', 'bob', closed!)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`127.0.0.1:${closed}`);
    expect(r.stderr).toContain('connection refused');
    expect(r.stderr).toContain('hint:');
    expectNotPrinted(r, 'Cl0sed-Pw');
  });
});

describe('redact', () => {
  it('removes a parsed password from any text, raw and URL-encoded', () => {
    const secret = 'p@ss/w:rd';
    const encoded = encodeURIComponent(secret);
    expect(encoded).toBe('p%40ss%2Fw%3Ard');
    const [e] = parseRedisUrls(`redis://carol:${encoded}@127.0.0.1:6390/2`);
    expect(e?.password).toBe(secret);
    const text = `driver said: auth ${secret} rejected; retry with ${encoded} (or "${secret}")\n`;
    const out = redact(text);
    expect(out).not.toContain(secret);
    expect(out).not.toContain(encoded);
    expect(out).toBe('driver said: auth *** rejected; retry with *** (or "***")\n');
  });
});

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import health from '../src/commands/health.js';
import { StreamctlError } from '../src/errors.js';
import { testIo } from './helpers/io.js';
import { startRedis, tempDir, type TestServer } from './helpers/redis.js';

/** Runs the openssl CLI in `cwd`; its chatter goes nowhere unless it fails (then execFileSync throws with it). */
function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A self-signed CA (EC keys: fast to make). */
function makeCa(cwd: string, name: string): { key: string; cert: string } {
  const key = join(cwd, `${name}.key`);
  const cert = join(cwd, `${name}.crt`);
  openssl(cwd, [
    'req',
    '-x509',
    '-new',
    '-nodes',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=streamctl test ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { key, cert };
}

/** A server certificate for 127.0.0.1 and localhost, signed by `ca`. */
function makeServerCert(cwd: string, ca: { key: string; cert: string }): { key: string; cert: string } {
  const key = join(cwd, 'server.key');
  const csr = join(cwd, 'server.csr');
  const cert = join(cwd, 'server.crt');
  const ext = join(cwd, 'server.ext');
  writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  openssl(cwd, [
    'req',
    '-new',
    '-nodes',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    '/CN=localhost',
  ]);
  openssl(cwd, [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    '1001',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { key, cert };
}

let tmp: ReturnType<typeof tempDir>;
let server: TestServer;
let rightCa: string;
let wrongCa: string;
let tlsUrl: string;

beforeAll(async () => {
  tmp = tempDir('streamctl-tls-');
  const ca = makeCa(tmp.dir, 'ca');
  const other = makeCa(tmp.dir, 'wrong-ca');
  const cert = makeServerCert(tmp.dir, ca);
  rightCa = ca.cert;
  wrongCa = other.cert;
  server = await startRedis(
    [
      '--tls-cert-file',
      cert.cert,
      '--tls-key-file',
      cert.key,
      '--tls-ca-cert-file',
      ca.cert,
      '--tls-auth-clients',
      'no',
    ],
    { tlsPort: true },
  );
  tlsUrl = `rediss://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.stop();
  tmp?.remove();
});

/** Runs `streamctl health` in-process with schema defaults applied; resolves to the exit code and output. */
async function runHealth(raw: Record<string, unknown>): Promise<{ code: number; stdout: string; stderr: string }> {
  const t = testIo();
  const code = await health.run(health.options.parse({ json: true, ...raw }), t.io);
  return { code, stdout: t.stdout(), stderr: t.stderr() };
}

/** Runs health expecting a StreamctlError; fails the test if it resolves or throws anything else. */
async function healthError(raw: Record<string, unknown>): Promise<StreamctlError> {
  const err = await runHealth(raw).then(
    (r) => {
      throw new Error(`expected health to fail, it exited ${r.code} with ${r.stdout}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StreamctlError);
  return err as StreamctlError;
}

describe('health over TLS (rediss://)', () => {
  it('connects with the CA that signed the server certificate', async () => {
    const r = await runHealth({ redis: tlsUrl, tlsCa: rightCa });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.status).toBe('ok');
    expect(report.mode).toBe('standalone');
    expect(report.target).toEqual([tlsUrl]);
    expect(report.nodes).toHaveLength(1);
    expect(report.nodes[0]).toMatchObject({ address: `127.0.0.1:${server.port}`, role: 'primary', up: true });
  });

  it('rejects a server certificate signed by another CA with REDIS_TLS and a --tls-ca hint', async () => {
    const err = await healthError({ redis: tlsUrl, tlsCa: wrongCa });
    expect(err.code).toBe('REDIS_TLS');
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain(`127.0.0.1:${server.port}`);
    expect(err.hint).toContain('--tls-ca');
  });

  it('accepts any certificate with --tls-insecure, even with the wrong CA', async () => {
    const r = await runHealth({ redis: tlsUrl, tlsCa: wrongCa, tlsInsecure: true });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', mode: 'standalone' });
  });

  it('rejects the private CA with the default trust store (no --tls-ca)', async () => {
    const err = await healthError({ redis: tlsUrl });
    expect(err.code).toBe('REDIS_TLS');
    expect(err.exitCode).toBe(1);
    expect(err.hint).toContain('--tls-ca');
  });

  it('fails fast when plain redis:// talks to the TLS port', async () => {
    const started = Date.now();
    const err = await healthError({ redis: `redis://127.0.0.1:${server.port}`, tlsCa: rightCa });
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain(`127.0.0.1:${server.port}`);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 10_000);
});

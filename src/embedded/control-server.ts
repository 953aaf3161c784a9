import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { toStreamctlError } from '../errors.js';
import { listen } from '../listen.js';
import { BodyTooLarge, readBody } from '../read-body.js';
import {
  CONTROL_VERSION,
  controlRequest,
  type ControlEndpoint,
  type ControlRequest,
  type ControlResponse,
} from './control-protocol.js';

/** The path requests are posted to; the version is in the body too, where it is checked. */
export const CONTROL_PATH = '/v1/requests';
/** A request is a few hundred bytes; anything far larger is not one. */
const MAX_BODY = 64 * 1024;

/** `<home>/control.json`: the endpoint and token, readable by the owner only. */
export function controlFile(home: string): string {
  return join(home, 'control.json');
}

/** The supervisor's control channel, listening on 127.0.0.1. */
export interface ControlServer {
  url: string;
  /** Takes no new request; resolves once the answers in flight are sent. */
  close(): Promise<void>;
}

/** How long answers in flight get when the server closes. */
const CLOSE_GRACE_MS = 2000;

function send(res: ServerResponse, status: number, body: ControlResponse): void {
  // One request a connection: a closing server then waits only for answers in flight.
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(`${JSON.stringify(body)}\n`);
}

function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { ok: false, error: { code, message } });
}

function authorized(req: IncomingMessage, token: Buffer): boolean {
  const given = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!given) return false;
  const b = Buffer.from(given);
  return b.length === token.length && timingSafeEqual(b, token);
}

/**
 * Starts the control channel: HTTP on 127.0.0.1 (a free port) with a random token, both written to
 * `<home>/control.json` (mode 0600), so that only a process of the user who owns the state folder can
 * send requests. Each request is one JSON object checked against `controlRequest`; a request without
 * the token, or one that does not parse, is refused and never reaches `handle`.
 */
export async function startControlServer(
  home: string,
  handle: (request: ControlRequest) => Promise<unknown>,
): Promise<ControlServer> {
  const token = randomBytes(24).toString('hex');
  const tokenBytes = Buffer.from(token);
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url !== CONTROL_PATH) return refuse(res, 404, 'NOT_FOUND', `POST requests to ${CONTROL_PATH}`);
      if (req.method !== 'POST') return refuse(res, 405, 'METHOD', `POST requests to ${CONTROL_PATH}`);
      if (!authorized(req, tokenBytes))
        return refuse(res, 401, 'UNAUTHORIZED', 'missing or wrong token (see control.json in the state folder)');
      let raw: unknown;
      try {
        raw = JSON.parse((await readBody(req, MAX_BODY)).toString('utf8'));
      } catch (err) {
        return err instanceof BodyTooLarge
          ? refuse(res, 413, 'TOO_LARGE', `a request is at most ${MAX_BODY} bytes`)
          : refuse(res, 400, 'MALFORMED', `the body is not JSON: ${(err as Error).message}`);
      }
      const parsed = controlRequest.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return refuse(
          res,
          400,
          'MALFORMED',
          `not a control request of version ${CONTROL_VERSION}: ${issue.path.join('.') || '(request)'}: ${issue.message}`,
        );
      }
      try {
        send(res, 200, { ok: true, result: (await handle(parsed.data)) as never });
      } catch (err) {
        const e = toStreamctlError(err);
        send(res, e.exitCode === 2 ? 400 : 409, {
          ok: false,
          error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
        });
      }
    })();
  });
  const port = await listen(server, '127.0.0.1', 0, {
    code: 'CONTROL',
    what: 'the control channel',
    portFlag: '--home',
    failHint: 'check that 127.0.0.1 is usable',
  });
  const url = `http://127.0.0.1:${port}${CONTROL_PATH}`;
  const endpoint: ControlEndpoint = { url, token, pid: process.pid, version: CONTROL_VERSION };
  const file = controlFile(home);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(endpoint, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        rmSync(file, { force: true });
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => (clearTimeout(force), resolve()));
        server.closeIdleConnections();
      }),
  };
}

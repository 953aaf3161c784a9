import { existsSync, readFileSync } from 'node:fs';
import { RuntimeError, StreamctlError } from '../errors.js';
import { isPidAlive } from '../pid.js';
import { controlFile } from './control-server.js';
import type { ControlEndpoint, ControlRequest, ControlResponse, ControlResults } from './control-protocol.js';

/** How long a request may take: a restart waits for the process to be up again. */
const REQUEST_TIMEOUT_MS = 60_000;

/** The supervisor's endpoint from `<home>/control.json`, when a live supervisor wrote it. */
export function readControlEndpoint(home: string): ControlEndpoint | undefined {
  const file = controlFile(home);
  if (!existsSync(file)) return undefined;
  try {
    const e = JSON.parse(readFileSync(file, 'utf8')) as ControlEndpoint;
    return isPidAlive(e.pid) ? e : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends one request to the supervisor of the deployment in `home`.
 * @throws RuntimeError NO_SUPERVISOR when none is running; the supervisor's own error (with its code) when it refuses.
 */
export async function sendControl<R extends ControlRequest>(
  home: string,
  request: R,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<ControlResults[R['kind']]> {
  const endpoint = readControlEndpoint(home);
  if (!endpoint)
    throw new RuntimeError(
      'NO_SUPERVISOR',
      `no supervisor is running for the embedded deployment in ${home}`,
      'start it with `streamctl up` (it repairs a deployment with dead members), or pass the --home it runs in',
    );
  let res: Response;
  try {
    res = await fetch(endpoint.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${endpoint.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new RuntimeError(
      'CONTROL_UNREACHABLE',
      `the supervisor (pid ${endpoint.pid}) did not answer on ${endpoint.url}: ${(err as Error).message}`,
      'check `streamctl health`; `streamctl up` repairs a deployment whose supervisor is gone',
      err,
    );
  }
  const body = (await res.json()) as ControlResponse<R['kind']>;
  if (body.ok) return body.result;
  throw new StreamctlError(body.error.code, body.error.message, {
    exitCode: res.status === 400 ? 2 : 1,
    ...(body.error.hint ? { hint: body.error.hint } : {}),
  });
}

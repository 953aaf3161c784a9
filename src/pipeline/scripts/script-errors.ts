/**
 * The errors the scripts return with `redis.error_reply`: a code, a space, then the message (see
 * the headers of claim.lua, commit.lua and read.lua). A reply error is recognised by its code only.
 */
export const SCRIPT_ERRORS = {
  /** The caller no longer holds the partition's lease: a successor owns it, or it expired. */
  leaseLost: 'LEASE_LOST',
  /** The entries a commit would take are not the consumer group's next ones. */
  staleRead: 'STALE_READ',
} as const;

export type ScriptErrorCode = (typeof SCRIPT_ERRORS)[keyof typeof SCRIPT_ERRORS];

/** The script error code of a reply error, or undefined for any other error. */
export function scriptErrorCode(err: unknown): ScriptErrorCode | undefined {
  if (!(err instanceof Error)) return undefined;
  for (const code of Object.values(SCRIPT_ERRORS)) if (err.message.startsWith(`${code} `)) return code;
  return undefined;
}

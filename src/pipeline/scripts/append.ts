import { CODEC_VERSION } from '../codec.js';

/**
 * append.lua's arguments (see its header): stream, seq key, producer, last seq, codec version,
 * batch, and the batch's traceparent when it is traced.
 */
export type AppendArgs =
  | [stream: string, seqKey: string, producer: string, lastSeq: string, version: string, batch: Buffer]
  | [
      stream: string,
      seqKey: string,
      producer: string,
      lastSeq: string,
      version: string,
      batch: Buffer,
      traceparent: string,
    ];

/** Builds the arguments of one idempotent append of `batch`, whose last event has seq `lastSeq`. */
export function appendArgs(
  stream: string,
  seqKey: string,
  producer: string,
  lastSeq: number,
  batch: Buffer,
  traceparent?: string,
): AppendArgs {
  const args: AppendArgs = [stream, seqKey, producer, String(lastSeq), String(CODEC_VERSION), batch];
  return traceparent ? [...args, traceparent] : args;
}

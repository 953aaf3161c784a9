/**
 * The argument layout of commit.lua (see its header), built beside it: the keys of the partition
 * and, per batch, the entries to acknowledge, the outputs, the state write and the dead letters.
 */

/** A dead-letter record, as commit.lua writes it to the partition's DLQ stream. */
export interface DeadLetter {
  /** How many events it holds (1 for an undecodable entry). */
  events: number;
  /** The input entry id. */
  origin: string;
  error: string;
  deliveries: number;
  /** A codec batch of the events that failed, or '' for an undecodable entry. */
  batch: Buffer | '';
  /** The undecodable entry's fields as JSON, or ''. */
  raw: string;
}

/** What a commit does to the stage's state key. */
export type StateWrite =
  | { op: 'keep' }
  | { op: 'set'; value: Buffer | string }
  | { op: 'del' }
  /** Entry state: the state key is a hash; these fields are set and these deleted. */
  | { op: 'hash'; set: [string, Buffer | string][]; del: string[] };

/** The keys of (stage, partition) a commit touches. */
export interface CommitKeys {
  lease: string;
  input: string;
  state: string;
  dlq: string;
  /** The stage's output stream. */
  output: string;
}

export interface CommitRequest {
  token: string;
  group: string;
  codecVersion: number;
  /**
   * With a consumer, `ids` are the group's next new entries, read with a plain XREAD: the script
   * delivers them to this consumer and acknowledges them ('take'). Without, `ids` are pending
   * entries delivered earlier ('ack').
   */
  consumer: string | undefined;
  ids: string[];
  /** Encoded batches for the stage's output stream. */
  outputs: Buffer[];
  /** Encoded batches for other streams of the partition, by stream key (ctx.emit). */
  emitted: [stream: string, batches: Buffer[]][];
  state: StateWrite;
  dead: DeadLetter[];
  /** The W3C traceparent every output entry carries (field tc), when the batch is traced. */
  traceparent?: string | undefined;
}

export type ScriptArg = string | Buffer | number;

/** KEYS and ARGV of one commit.lua call. */
export interface CommitArgs {
  keys: string[];
  args: ScriptArg[];
}

const OUTPUT_KEY_INDEX = 5;

/** Builds KEYS and ARGV for commit.lua. */
export function commitArgs(k: CommitKeys, c: CommitRequest): CommitArgs {
  const keys = [k.lease, k.input, k.state, k.dlq, k.output];
  const args: ScriptArg[] = [c.token, c.group, String(c.codecVersion)];
  if (c.consumer !== undefined) args.push('take', c.consumer);
  else args.push('ack');
  args.push(c.ids.length, ...c.ids);

  let batches = c.outputs.length;
  for (const [, list] of c.emitted) batches += list.length;
  args.push(batches, c.traceparent ?? '');
  for (const b of c.outputs) args.push(OUTPUT_KEY_INDEX, b);
  for (const [stream, list] of c.emitted) {
    if (list.length === 0) continue;
    keys.push(stream);
    for (const b of list) args.push(keys.length, b);
  }

  const s = c.state;
  if (s.op === 'hash') {
    args.push('hash', s.set.length);
    for (const [field, value] of s.set) args.push(field, value);
    args.push(s.del.length, ...s.del);
  } else if (s.op === 'set') args.push('set', s.value);
  else args.push(s.op === 'del' ? 'del' : '-', '');

  args.push(c.dead.length);
  for (const d of c.dead) args.push(d.origin, c.group, d.error, String(d.deliveries), d.batch, d.raw);
  return { keys, args };
}

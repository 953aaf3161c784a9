/** Where events to send come from: a synthetic workload or a file; `undefined` ends the stream (a file's end). */
export interface EventSource {
  next(): SourceEvent | undefined | Promise<SourceEvent | undefined>;
}

/** One event to send: the key that routes it and its body. */
export interface SourceEvent {
  key: string;
  data: Buffer;
}

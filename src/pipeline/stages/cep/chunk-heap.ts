/**
 * Committed chunks of a CEP partition's pending events, ordered by the largest event time in each,
 * so that the chunks a watermark has passed come off the top. Per batch this costs the chunks that
 * leave, not a visit of every chunk held: with the default 5 s lateness a partition at a low rate
 * holds one chunk per batch of the last 5 s, thousands.
 */
export class ChunkHeap {
  /** Chunk numbers and their largest event times, as one binary min-heap on the times. */
  private readonly numbers: number[] = [];
  private readonly maxes: number[] = [];

  get size(): number {
    return this.numbers.length;
  }

  add(chunk: number, maxTime: number): void {
    let i = this.numbers.length;
    this.numbers.push(chunk);
    this.maxes.push(maxTime);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.maxes[parent]! <= maxTime) break;
      this.numbers[i] = this.numbers[parent]!;
      this.maxes[i] = this.maxes[parent]!;
      i = parent;
    }
    this.numbers[i] = chunk;
    this.maxes[i] = maxTime;
  }

  /** Removes the chunks whose largest event time is below `watermark`; calls `passed` with each number. */
  popBelow(watermark: number, passed: (chunk: number) => void): void {
    while (this.maxes.length > 0 && this.maxes[0]! < watermark) {
      passed(this.numbers[0]!);
      const n = this.numbers.pop()!;
      const m = this.maxes.pop()!;
      const size = this.numbers.length;
      if (size === 0) break;
      // Sift the last one down from the top.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        const c = r < size && this.maxes[r]! < this.maxes[l]! ? r : l;
        if (this.maxes[c]! >= m) break;
        this.numbers[i] = this.numbers[c]!;
        this.maxes[i] = this.maxes[c]!;
        i = c;
      }
      this.numbers[i] = n;
      this.maxes[i] = m;
    }
  }

  clear(): void {
    this.numbers.length = 0;
    this.maxes.length = 0;
  }
}

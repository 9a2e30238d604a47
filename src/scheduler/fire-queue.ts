// A binary min-heap of (fire time, agent) so the Scheduler arms one timer for the earliest due
// agent: add/next are O(log n), which keeps thousands of agents cheap. Entries are never removed
// from the middle; the Scheduler marks them stale (by `seq`) and skips them when they surface.

export interface QueuedFire {
  at: number;
  agent: string;
  /** Identifies the entry's generation; a lower seq for the same agent is stale. Also breaks ties (FIFO). */
  seq: number;
}

export class FireQueue {
  private readonly heap: QueuedFire[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(item: QueuedFire): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  peek(): QueuedFire | undefined {
    return this.heap[0];
  }

  pop(): QueuedFire | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < heap.length && before(heap[l], heap[min])) min = l;
        if (r < heap.length && before(heap[r], heap[min])) min = r;
        if (min === i) break;
        [heap[i], heap[min]] = [heap[min], heap[i]];
        i = min;
      }
    }
    return top;
  }

  /** Replaces the contents (used to drop stale entries after many removals). */
  rebuild(items: QueuedFire[]): void {
    this.heap.length = 0;
    for (const item of items) this.push(item);
  }
}

function before(a: QueuedFire, b: QueuedFire): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

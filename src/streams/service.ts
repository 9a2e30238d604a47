// What the streams module offers its routes, the file watcher and tests (kept apart from module.ts
// so they do not import the module that imports them).
import type { checkLines, Ingester, Line, StreamDef } from './ingest.js';
import type { QueryProcessor } from './processor.js';
import type { AppendResult, StreamStore } from './store.js';

export interface StreamsService {
  store: StreamStore;
  ingester: Ingester;
  defs: Map<string, StreamDef>;
  queries: Map<string, QueryProcessor>;
  /** Validates and appends (durably, group-committed); bad lines go to the DLQ. */
  ingest(stream: string, lines: Line[], source: string): Promise<{ checked: ReturnType<typeof checkLines>; done: Promise<AppendResult> }>;
  def(stream: string): StreamDef;
  now(): number;
}

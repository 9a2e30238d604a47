// What one committed run (or API write) adds to the audit log: one `state.change` per namespace it
// changed (its keys, never values) and ONE `event.emit` summarising everything it emitted — the
// count, the event names, the first and last id, and a digest of all the ids in emit order. One
// record per commit instead of one per event: a run that emits 5,000 events cost 5,000 canonical
// JSON + SHA-256 + insert rounds, the largest audit cost on the event path. The summary still says
// who emitted what, and the digest makes the set tamper evident: recompute it from the stored
// events of the run (`emitDigest`) and compare.
import { createHash } from 'node:crypto';
import type { AuditEntry } from '../../contracts/modules.js';
import type { NewEvent, StateWrite } from '../../store/types.js';

/** Up to this many emits, the record lists every id (and still carries the digest). */
export const LISTED_EMIT_IDS = 10;
const MAX_LISTED = 100;

/** SHA-256 (hex) of the event ids, in emit order, each followed by a newline. */
export function emitDigest(ids: readonly string[]): string {
  const h = createHash('sha256');
  for (const id of ids) h.update(id).update('\n');
  return h.digest('hex');
}

export interface CommitInfo {
  writes: StateWrite[];
  emits: NewEvent[];
  versions: Record<string, number>;
  runId: string | null;
  reason?: string;
}

/** The audit entries of one commit by `agent` (actor `api` when the API wrote). */
export function commitAuditEntries(agent: string, info: CommitInfo): AuditEntry[] {
  const out: AuditEntry[] = [];
  const actor = info.reason === 'api' ? 'api' : `agent:${agent}`;
  const byNs = new Map<string, Set<string>>();
  for (const w of info.writes) {
    let keys = byNs.get(w.namespace);
    if (!keys) byNs.set(w.namespace, (keys = new Set()));
    keys.add(w.key);
  }
  for (const [ns, keys] of byNs) {
    const k = [...keys];
    out.push({
      actor,
      action: 'state.change',
      target: ns,
      detail: { version: info.versions[ns] ?? null, keys: k.slice(0, MAX_LISTED), ...(k.length > MAX_LISTED ? { moreKeys: k.length - MAX_LISTED } : {}), runId: info.runId, ...(info.reason ? { reason: info.reason } : {}) },
    });
  }
  const emits = info.emits;
  if (emits.length > 0) {
    const names = [...new Set(emits.map((e) => e.name))];
    const ids = emits.map((e) => e.id);
    out.push({
      actor,
      action: 'event.emit',
      // The event name, or the names (sorted) when the commit emitted several kinds.
      target: names.length === 1 ? names[0]! : [...names].sort().slice(0, MAX_LISTED).join(','),
      detail: {
        count: emits.length,
        names: names.slice(0, MAX_LISTED),
        ...(names.length > MAX_LISTED ? { moreNames: names.length - MAX_LISTED } : {}),
        source: emits[0]!.source,
        runId: info.runId,
        firstId: ids[0],
        lastId: ids[ids.length - 1],
        ...(ids.length <= LISTED_EMIT_IDS ? { ids } : {}),
        idsDigest: emitDigest(ids),
      },
    });
  }
  return out;
}

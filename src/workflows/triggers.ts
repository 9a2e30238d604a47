// What starts workflow runs besides the API: schedules, events, files arriving in a directory.
// Every trigger gives its run a dedupe key (the fire time, the event id, the file), and the store
// starts at most one run per (workflow, key): a restart, a replayed event page or a re-scanned
// directory cannot start a second run for the same cause.
import path from 'node:path';
import { createRequire } from 'node:module';
import type { FSWatcher } from 'chokidar';
import fs from 'node:fs';
import { Scheduler } from '../scheduler/index.js';
import type { Clock } from '../scheduler/types.js';
import type { Store } from '../store/types.js';
import type { Bus, Nack } from '../bus/types.js';
import type { LogLine } from '../runtime/protocol.js';
import type { WorkflowDef } from './config.js';
import type { WorkflowEngine } from './engine.js';
import type { WorkflowRepository } from './store.js';

export interface TriggerDeps {
  store: Store;
  repo: WorkflowRepository;
  engine: WorkflowEngine;
  clock: Clock;
  root: string;
  log(level: LogLine['level'], msg: string, fields?: Record<string, unknown>): void;
  /** Event triggers consume the bus as the `workflows` group. */
  bus: Bus;
}

/** The store key of a workflow's schedule (shared with agents' schedules: `workflow:` cannot clash with an agent name). */
export const scheduleKey = (name: string) => `workflow:${name}`;
/** The bus consumer group of workflow event triggers (not an agent name: agents cannot contain ':'). */
export const EVENT_GROUP = 'workflows:triggers';
const EVENT_BATCH = 200;

export class Triggers {
  private scheduler: Scheduler | null = null;
  private watchers: FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly d: TriggerDeps, private readonly defs: Map<string, WorkflowDef>) {}

  async start(): Promise<void> {
    await this.startSchedules();
    await this.startEvents();
    this.startFiles();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.scheduler?.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.offWake?.();
    await Promise.all(this.watchers.map((w) => w.close().catch(() => undefined)));
  }

  /** Starts a run (at most one per dedupe key); false, logged, when it could not. */
  private fire(name: string, input: unknown, trigger: Record<string, unknown>, dedupeKey: string): Promise<boolean> {
    return this.d.engine.start(name, input, { trigger, dedupeKey }).then(
      () => true,
      (err: Error) => {
        this.d.log('error', `workflow '${name}': ${String(trigger.type)} trigger could not start a run: ${err.message}`, { workflow: name });
        return false;
      },
    );
  }

  // ---- schedules: the scheduler decides when, the store's claimFire that it fires once --------

  private async startSchedules(): Promise<void> {
    const { store, clock } = this.d;
    this.scheduler = new Scheduler({
      clock,
      onFire: (key, fireAt) => void this.onFire(key, fireAt),
      onError: (err, key) => this.d.log('error', `workflow schedule ${key}: ${(err as Error).message}`),
    });
    const now = clock.now();
    for (const def of this.defs.values()) {
      for (const t of def.triggers) {
        if (!('schedule' in t) || !t.schedule) continue;
        const key = scheduleKey(def.name);
        const { lastFireAt } = await store.getSchedule(key);
        const stored = Number((await store.getMeta(`anchor:${key}`)) ?? NaN);
        const anchor = Number.isFinite(stored) ? stored : now;
        if (!Number.isFinite(stored)) await store.setMeta(`anchor:${key}`, String(anchor));
        const next = this.scheduler.add(key, t.schedule, { anchor, lastFireAt: lastFireAt ?? now });
        await store.setNextFire(key, next);
        break; // one schedule per workflow
      }
    }
  }

  private async onFire(key: string, fireAt: number): Promise<void> {
    const name = key.slice('workflow:'.length);
    try {
      await this.d.store.setNextFire(key, this.scheduler?.nextFire(key) ?? null);
      // Fire times missed while the daemon was down coalesce into this one (the latest): a
      // workflow runs once for them, not once per missed time.
      if (!(await this.d.store.claimFire(key, fireAt))) return;
      await this.fire(name, {}, { type: 'schedule', fireAt }, `schedule:${fireAt}`);
    } catch (err) {
      this.d.log('error', `workflow '${name}': schedule fire failed: ${(err as Error).message}`, { workflow: name });
    }
  }

  // ---- events: the `workflows` consumer group on the bus ------------------------------------
  // Each committed event a trigger matches has a delivery row for the group (made by the commit
  // that appended it), so an event is never skipped — also one whose PostgreSQL sequence number
  // committed late, which a cursor over the log could step past. A batch is claimed in one step;
  // each event starts its runs (deduped by event id, so a redelivery after a crash starts none
  // twice), then the batch is acked in one statement.

  private async startEvents(): Promise<void> {
    const byEvent = new Map<string, string[]>();
    for (const def of this.defs.values()) for (const t of def.triggers) if ('event' in t) byEvent.set(t.event, [...(byEvent.get(t.event) ?? []), def.name]);
    const { bus } = this.d;
    const patterns = [...byEvent.keys()];
    // Exact names subscribe exactly; a wildcard pattern (`orders.*`) needs every event, filtered here.
    await bus.subscribe(EVENT_GROUP, patterns.some((p) => p === '*' || p.endsWith('.*')) ? ['*'] : patterns);
    if (byEvent.size === 0) return;
    this.match = (name: string) => {
      const out: string[] = [];
      for (const [pattern, wfs] of byEvent) if (pattern === name || pattern === '*' || (pattern.endsWith('.*') && name.startsWith(pattern.slice(0, -1)))) out.push(...wfs);
      return out;
    };
    this.offWake = bus.onWake(EVENT_GROUP, () => this.pumpEvents());
    // Safety net for deliveries that come back without a wake-up (an expired lease, a retry).
    this.pollTimer = setInterval(() => this.pumpEvents(), 5000);
    this.pollTimer.unref();
    this.pumpEvents();
  }

  private match: (name: string) => string[] = () => [];
  private offWake: (() => void) | null = null;
  private pumping = false;
  private again = false;

  private pumpEvents(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.again = false;
          const batch = await this.d.bus.claim(EVENT_GROUP, { limit: EVENT_BATCH, leaseMs: 60_000 });
          const failed: Nack[] = [];
          for (const d of batch) {
            const e = d.event;
            for (const wf of this.match(e.name)) {
              const input = { id: e.id, name: e.name, data: e.payload ?? null, source: e.source ?? null, createdAt: e.createdAt };
              // The run continues the trace of the run that emitted the event.
              const trace = e.traceparent ? { traceparent: e.traceparent } : {};
              if (!(await this.fire(wf, input, { type: 'event', event: e.name, eventId: e.id, ...trace }, `event:${e.id}`))) {
                failed.push({ ...d, error: `workflow '${wf}' could not start`, retryAt: this.d.clock.now() + 1000, dead: d.attempts >= 5 });
                break;
              }
            }
          }
          const failedIds = new Set(failed.map((f) => f.deliveryId));
          await this.d.bus.ack(batch.filter((d) => !failedIds.has(d.deliveryId)));
          if (failed.length > 0) await this.d.bus.nack(failed);
          if (batch.length === EVENT_BATCH) this.again = true;
        } while (this.again && !this.stopped);
      } catch (err) {
        this.d.log('error', `workflow event triggers: ${(err as Error).message}`);
      } finally {
        this.pumping = false;
      }
    })();
  }

  // ---- files: chokidar on a directory; each file (path + mtime) starts one run ---------------

  private startFiles(): void {
    // chokidar is required only when a workflow has a files trigger (most daemons have none).
    const chokidar = () => createRequire(import.meta.url)('chokidar') as typeof import('chokidar');
    for (const def of this.defs.values()) {
      for (const t of def.triggers) {
        if (!('files' in t)) continue;
        const dir = path.resolve(this.d.root, t.files.dir);
        fs.mkdirSync(dir, { recursive: true });
        const re = t.files.pattern ? globToRegExp(t.files.pattern) : null;
        const w = chokidar().watch(dir, { depth: 0, ignoreInitial: false, awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 } });
        w.on('add', (file, stats) => {
          const base = path.basename(file);
          if (re && !re.test(base)) return;
          const mtime = Math.round(stats?.mtimeMs ?? fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
          void this.fire(def.name, { path: file, name: base, size: stats?.size ?? null }, { type: 'file', path: file }, `file:${file}:${mtime}`);
        });
        w.on('error', (err) => this.d.log('error', `workflow '${def.name}': watching ${dir}: ${(err as Error).message}`, { workflow: def.name }));
        this.watchers.push(w);
      }
    }
  }
}

/** `*.csv`, `report-??.json`: * and ? over one file name; everything else literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

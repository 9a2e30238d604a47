// What starts workflow runs besides the API: schedules, events, files arriving in a directory.
// Every trigger gives its run a dedupe key (the fire time, the event id, the file), and the store
// starts at most one run per (workflow, key): a restart, a replayed event page or a re-scanned
// directory cannot start a second run for the same cause.
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import fs from 'node:fs';
import { Scheduler } from '../scheduler/index.js';
import type { Clock } from '../scheduler/types.js';
import type { Store } from '../store/types.js';
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
  /** How often the event log is read (default 500 ms). */
  eventPollMs?: number;
}

/** The store key of a workflow's schedule (shared with agents' schedules: `workflow:` cannot clash with an agent name). */
export const scheduleKey = (name: string) => `workflow:${name}`;
const CURSOR = 'workflows:event-cursor';

export class Triggers {
  private scheduler: Scheduler | null = null;
  private watchers: FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
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
    await Promise.all(this.watchers.map((w) => w.close().catch(() => undefined)));
  }

  private fire(name: string, input: unknown, trigger: Record<string, unknown>, dedupeKey: string): Promise<void> {
    return this.d.engine.start(name, input, { trigger, dedupeKey }).then(
      () => undefined,
      (err: Error) => this.d.log('error', `workflow '${name}': ${String(trigger.type)} trigger could not start a run: ${err.message}`, { workflow: name }),
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

  // ---- events: read from the durable event log after a stored cursor ------------------------

  private async startEvents(): Promise<void> {
    const byEvent = new Map<string, string[]>();
    for (const def of this.defs.values()) for (const t of def.triggers) if ('event' in t) byEvent.set(t.event, [...(byEvent.get(t.event) ?? []), def.name]);
    if (byEvent.size === 0) return;
    const { store, repo } = this.d;
    // First start with event triggers: listen from now on (history does not start runs).
    if ((await store.getMeta(CURSOR)) === undefined) await store.setMeta(CURSOR, String(await repo.maxEventSeq()));
    const match = (name: string) => {
      const out: string[] = [];
      for (const [pattern, wfs] of byEvent) if (pattern === name || pattern === '*' || (pattern.endsWith('.*') && name.startsWith(pattern.slice(0, -1)))) out.push(...wfs);
      return out;
    };
    const poll = async () => {
      if (this.polling || this.stopped) return;
      this.polling = true;
      try {
        for (;;) {
          const after = Number((await store.getMeta(CURSOR)) ?? 0);
          const page = await store.listEvents({ afterSeq: after, limit: 200 });
          if (page.length === 0) break;
          for (const e of page) {
            for (const wf of match(e.name)) {
              await this.fire(wf, { id: e.id, name: e.name, data: e.payload ?? null, source: e.source ?? null, createdAt: e.createdAt }, { type: 'event', event: e.name, eventId: e.id }, `event:${e.id}`);
            }
          }
          // The cursor moves after the runs exist; a crash in between re-reads the page and the
          // dedupe keys keep it to one run per event.
          await store.setMeta(CURSOR, String(page[page.length - 1].seq));
          if (page.length < 200) break;
        }
      } catch (err) {
        this.d.log('error', `workflow event triggers: ${(err as Error).message}`);
      } finally {
        this.polling = false;
      }
    };
    this.pollTimer = setInterval(() => void poll(), this.d.eventPollMs ?? 500);
    this.pollTimer.unref();
    void poll();
  }

  // ---- files: chokidar on a directory; each file (path + mtime) starts one run ---------------

  private startFiles(): void {
    for (const def of this.defs.values()) {
      for (const t of def.triggers) {
        if (!('files' in t)) continue;
        const dir = path.resolve(this.d.root, t.files.dir);
        fs.mkdirSync(dir, { recursive: true });
        const re = t.files.pattern ? globToRegExp(t.files.pattern) : null;
        const w = watch(dir, { depth: 0, ignoreInitial: false, awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 } });
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

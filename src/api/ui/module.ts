// The 'ui' daemon module: the web dashboard served by the daemon at /ui (docs/ui.md). Started last,
// so the audit log it tees (for the live channel) and the LLM ledger it rolls up already exist.
import { counter } from '../../observability/metrics.js';
import { llmStoreModule } from '../../llm/ledger.js';
import type { DaemonModule, ModuleContext } from '../../daemon/modules.js';
import { uiRoutes } from '../routes/ui.js';
import { LiveFeed } from './live.js';
import { UiQueries } from './queries.js';
import { uiDataRoutes } from './routes.js';
import { SessionStore } from './session-store.js';
import { uiStoreModule } from './store.js';

export interface UiModuleOptions {
  /** The built app (default: the package's dist/ui). */
  dir?: string;
}

export function uiModule(opts: UiModuleOptions = {}): DaemonModule {
  let live: LiveFeed | null = null;
  return {
    name: 'ui',
    async start(ctx: ModuleContext) {
      // The spend rollup hangs off the usage ledger: make sure it exists even without an llm: section.
      await ctx.store.migrateModule(llmStoreModule);
      await ctx.store.migrateModule(uiStoreModule);
      const queries = new UiQueries(ctx.store.handle());
      const sessions = new SessionStore(ctx.store.handle(), () => ctx.clock.now());
      const feed = (live = new LiveFeed(ctx.control, ctx.logs));
      ctx.services.audit = feed.tee(ctx.services.audit);
      const dropped = counter(ctx.metrics, { name: 'openclaw_ui_live_dropped_total', help: 'Dashboard live messages dropped because a browser could not keep up', labelNames: [] as const });
      ctx.routes((app) => {
        uiRoutes(app, { sessions, dir: opts.dir, secure: ctx.config.api.tls !== undefined });
        uiDataRoutes(app, {
          control: ctx.control,
          queries,
          live: feed,
          sessions,
          agent: (name) => ctx.agent(name),
          audit: () => ctx.services.audit,
          now: () => ctx.clock.now(),
          authMode: ctx.services.auth?.mode ?? 'none',
          onDropped: (n) => dropped.inc(n),
        });
      });
    },
    async stop() {
      live?.close();
    },
  };
}

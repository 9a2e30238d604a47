// What the daemon wires its parts to (moved out of daemon.ts by composition, reading the daemon
// through DaemonPorts): each agent's RunContext (the commit path, intents served by modules), the
// RPCs agent workers call and the runtime's listener, the cluster placement's hooks, and the
// context daemon modules start with (their routes, intents and RPC ops are kept here).
import type { AgentConfig } from '../config/types.js';
import type { RuntimeListener } from '../runtime/types.js';
import type { RpcRequest, RpcTrace, RunIntent } from '../runtime/protocol.js';
import { context } from '@opentelemetry/api';
import { Counter } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { commitBuffer, type RunContext } from './run-transaction.js';
import type { Placement } from './placement.js';
import { BadRequestError, NotFoundError, OpenClawError } from '../util/errors.js';
import { contextFromTraceparent, tracingEnabled, withSpan } from '../observability/tracing.js';
import type { IntentHandler, ModuleContext, RpcHandler } from './modules.js';
import { commitAuditEntries } from '../security/audit/commit.js';
import type { DaemonPorts } from './daemon-ports.js';

export class DaemonWiring {
  /** Routes daemon modules register (served by the control API). */
  readonly moduleRoutes: Array<(app: FastifyInstance) => void> = [];
  private readonly rpcHandlers = new Map<string, RpcHandler>();
  private readonly intentHandlers = new Map<string, IntentHandler>();

  constructor(private readonly d: DaemonPorts) {}

  moduleContext(): ModuleContext {
    return {
      config: this.d.config,
      store: this.d.store,
      bus: this.d.bus,
      clock: this.d.clock,
      dataDir: this.d.config.dataDir,
      dev: this.d.dev,
      control: this.d.control,
      logs: this.d.logs,
      metrics: this.d.metrics,
      services: this.d.services,
      agent: (name) => this.d.controllers.get(name),
      agentNames: () => [...this.d.controllers.keys()],
      node: this.d.placement?.leases ? { id: this.d.placement.leases.nodeId, leaseMs: this.d.placement.leases.leaseMs } : null,
      log: (level, msg, fields) => this.d.log(level, msg, fields),
      routes: (register) => void this.moduleRoutes.push(register),
      intent: (kind, handler) => {
        if (this.intentHandlers.has(kind)) throw new Error(`intent '${kind}' is registered twice`);
        this.intentHandlers.set(kind, handler);
      },
      rpc: (op, handler) => {
        if (this.rpcHandlers.has(op)) throw new Error(`RPC op '${op}' is registered twice`);
        this.rpcHandlers.set(op, handler);
      },
      apiUrl: () => this.d.url,
    };
  }

  runContext(a: AgentConfig): RunContext {
    return {
      store: this.d.store,
      versions: this.d.versions,
      now: () => this.d.clock.now(),
      agent: a.name,
      maxStateSizeBytes: a.resources.maxStateSizeBytes,
      maxValueBytes: a.resources.maxStateValueBytes,
      maxEventBytes: a.resources.maxEventBytes,
      onPublished: (names) => this.d.bus.published(names),
      beforeCommit: (agent, buf) => this.d.services.guardrails?.beforeCommit(agent, buf) ?? buf,
      redact: (value) => this.d.services.secrets.redact(value),
      onCommitted: (info) => this.auditCommit(a.name, info),
      metrics: this.d.core,
      fence: this.d.placement?.fence(),
      intents: (intents, caller) => {
        const effects = [];
        for (const [kind, data] of groupIntents(intents)) {
          const h = this.intentHandlers.get(kind);
          if (!h) throw new OpenClawError('intent_unsupported', `agent '${a.name}' used '${kind}', which no daemon module serves (is its section configured?)`);
          effects.push(...h.effects(data, caller));
        }
        return effects;
      },
      onIntentsCommitted: (intents) => {
        for (const [kind, data] of groupIntents(intents)) this.intentHandlers.get(kind)?.committed?.(data);
      },
    };
  }

  /** One audit record per namespace changed (keys, never values) and one summarising the events emitted. */
  private auditCommit(agent: string, info: Parameters<NonNullable<RunContext['onCommitted']>>[0]): void {
    if (info.writes.length === 0 && info.emits.length === 0) return;
    const audit = this.d.services.audit;
    for (const e of commitAuditEntries(agent, { writes: info.writes, emits: info.emits, versions: info.result.versions, runId: info.runId, reason: info.reason })) audit.record(e);
  }

  listener(): RuntimeListener {
    return {
      rpc: (instanceId, agent, req) => this.handleRpc(agent, req, instanceId),
      log: (line) => this.d.logs.write(line),
      metrics: (_instanceId, agent, samples) => this.d.customMetrics.record(agent, samples),
      // Memory samples are read at scrape time from each instance's latest (InstanceHandle.memory).
      memory: () => undefined,
      memorySoftLimit: (instanceId, agent, sample) => void this.d.controllers.get(agent)?.onMemorySoftLimit(instanceId, sample.heapUsed + sample.external),
      logsDropped: (_i, _a, count) => this.d.logs.countDropped(count),
    };
  }

  private handleRpc(agent: string, req: RpcRequest, instanceId: string): Promise<unknown> {
    if (!tracingEnabled()) return this.serveRpc(agent, req, instanceId);
    // State operations get a span, a child of the run that asked (its traceparent); others (LLM,
    // jobs) make their own spans with withSpan/trace.getTracer('openclaw') under this context.
    const parent = contextFromTraceparent((req as RpcRequest & RpcTrace).traceparent);
    if (!req.op.startsWith('state.')) return context.with(parent, () => this.serveRpc(agent, req, instanceId));
    const attrs: Record<string, string> = { 'openclaw.agent': agent, 'openclaw.instance': instanceId };
    if ('namespace' in req) attrs['openclaw.state.namespace'] = req.namespace;
    return withSpan(`openclaw.rpc.${req.op}`, attrs, () => this.serveRpc(agent, req, instanceId), { parent });
  }

  private async serveRpc(agent: string, req: RpcRequest, instanceId: string): Promise<unknown> {
    const handler = this.rpcHandlers.get(req.op);
    if (handler) return handler(req as unknown as { op: string } & Record<string, unknown>, { agent, instanceId });
    switch (req.op) {
      case 'state.get': {
        const e = await this.d.store.getState(req.namespace, req.key);
        return e ? { value: e.value, version: e.version, expiresAt: e.expiresAt } : null;
      }
      case 'state.list': {
        const entries = await this.d.store.listState(req.namespace, req.prefix);
        return entries.map((e) => ({ key: e.key, value: e.value, version: e.version }));
      }
      case 'state.checkpoint': {
        const c = this.d.controllers.get(agent);
        if (!c) throw new NotFoundError('agent', agent);
        const result = await commitBuffer(this.runContext(c.cfg), req, { reason: 'checkpoint', runId: req.runId, fenceInstance: instanceId });
        return { versions: result.versions };
      }
      default:
        throw new BadRequestError(`unknown RPC '${(req as { op: string }).op}'`);
    }
  }

  placementHooks(): Parameters<typeof Placement.open>[2] {
    const commits = new Counter({ name: 'openclaw_cluster_commits_total', help: 'Run commits conditional on a cluster lease, by result (fenced: refused, the lease had moved on)', labelNames: ['result'], registers: [this.d.metrics] });
    return {
      controller: (agent) => this.d.controllers.get(agent),
      desired: async (agent) => (await this.d.store.getDesired(agent)) ?? 'running',
      // The agent's schedule moves here: fires claimed by a node that is gone are run (or recorded
      // missed) and the times nobody fired during the handover are caught up by the missed-run policy.
      scheduleTakenOver: async (agent) => this.d.schedules.takeOver(agent),
      log: (level, msg) => this.d.log(level, msg),
      counted: (result) => commits.inc({ result }),
    };
  }
}

function groupIntents(intents: RunIntent[]): Map<string, unknown[]> {
  // Linear: a run may buffer tens of thousands of intents (50 × enqueueBatch of 1,000); copying
  // the list per intent was quadratic and blocked the daemon's event loop for tens of seconds.
  const m = new Map<string, unknown[]>();
  for (const i of intents) {
    const list = m.get(i.kind);
    if (list) list.push(i.data);
    else m.set(i.kind, [i.data]);
  }
  return m;
}

// The dashboard's live channel: ONE WebSocket per view (`GET /api/ui/live?view=…`), pushing what
// changed so that no page ever polls (Bull Board #348: a 5 s poll piled up until the page hung;
// Temporal still polls every 10 s).
//
// What changed is learned from two streams the daemon already has:
// - the audit log (every transition, lifecycle action, state commit, emit, API mutation, LLM
//   call): the feed tees services.audit;
// - the log hub (`follow(null)`), for workflow steps and jobs, which log with `workflow` / `job`
//   fields; its follower queue is bounded and counts drops (a dropped line only means "refresh").
// Changes are coalesced for `FLUSH_MS` and then sent: an agent's new view (`agent`, read once per
// flush however many sockets watch it), or `changed` with the kinds the view refetches in one
// request. The agent page also gets its agent's log lines, through control.followLogs (the log
// hub's bounded queue and drop counter) and FollowSocket (the socket's own bound and drop report),
// exactly as `openclaw logs --follow` does.
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { ControlPlane, AgentView } from '../../daemon/control.js';
import type { AuditEntry } from '../../daemon/modules.js';
import type { LogHub } from '../../observability/log-hub.js';
import type { LogLine } from '../../runtime/protocol.js';
import { FollowSocket } from '../routes/logs.js';
import { mayActOn, type Principal } from '../route.js';

export type ChangeKind = 'runs' | 'state' | 'workflows' | 'jobs' | 'spend' | 'audit' | 'events';
export type View = 'fleet' | 'agent' | 'jobs' | 'workflows' | 'spend' | 'search' | 'audit' | 'nodes';

/** Which change kinds each view refetches on. */
const VIEW_KINDS: Record<View, ChangeKind[]> = {
  fleet: ['spend'],
  agent: ['runs', 'state'],
  jobs: ['jobs'],
  workflows: ['workflows'],
  spend: ['spend'],
  search: [], // search results stay as asked for; the page offers "new results" instead of jumping
  audit: ['audit'],
  nodes: [],
};

const FLUSH_MS = 50;
const MAX_BUFFERED = 1024 * 1024;

interface Subscriber {
  view: View;
  agent: string | null;
  principal: Principal | undefined;
  out: FollowSocket;
}

export class LiveFeed {
  private readonly subs = new Set<Subscriber>();
  private readonly dirtyAgents = new Map<string, Set<ChangeKind>>();
  private readonly dirtyKinds = new Set<ChangeKind>();
  private timer: NodeJS.Timeout | null = null;
  private unfollow: (() => void) | null = null;
  /** Messages the sockets could not take (also counted in the log follower metrics via onDropped). */
  dropped = 0;

  constructor(
    private readonly control: ControlPlane,
    private readonly logs: LogHub,
  ) {}

  /** Tees the audit sink: each record also marks what it changed. */
  tee(inner: { record(e: AuditEntry): void }): { record(e: AuditEntry): void } {
    return {
      record: (e) => {
        inner.record(e);
        this.fromAudit(e);
      },
    };
  }

  private fromAudit(e: AuditEntry): void {
    if (this.subs.size === 0) return;
    this.mark('audit');
    const target = e.target ?? '';
    switch (e.action) {
      case 'agent.transition':
      case 'agent.lifecycle':
        this.markAgent(target);
        return;
      case 'state.change':
        this.markAgent(e.actor.startsWith('agent:') ? e.actor.slice(6) : target, 'state', 'runs');
        return;
      case 'event.emit': {
        this.mark('events');
        // A run that emitted without writing state is still a new run on its agent's page.
        if (e.actor.startsWith('agent:')) this.markAgent(e.actor.slice(6), 'runs');
        return;
      }
      case 'llm.call':
        this.mark('spend');
        return;
      case 'api.mutation': {
        if (target.startsWith('/api/workflow') || target.startsWith('/api/approvals')) this.mark('workflows');
        else if (target.startsWith('/api/jobs') || target.startsWith('/api/queues')) this.mark('jobs');
        else if (target.startsWith('/api/llm')) this.mark('spend');
        return;
      }
    }
  }

  private fromLog(line: LogLine): void {
    const f = line.fields ?? {};
    if (typeof f.workflow === 'string') this.mark('workflows');
    if (typeof f.job === 'string' || typeof f.queue === 'string') this.mark('jobs');
    if (line.runId && line.agent !== 'daemon') this.markAgent(line.agent, 'runs');
  }

  private markAgent(name: string, ...kinds: ChangeKind[]): void {
    if (!name) return;
    let k = this.dirtyAgents.get(name);
    if (!k) this.dirtyAgents.set(name, (k = new Set()));
    for (const x of kinds) k.add(x);
    this.schedule();
  }

  private mark(kind: ChangeKind): void {
    this.dirtyKinds.add(kind);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.subs.size === 0) return;
    this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
  }

  private async flush(): Promise<void> {
    this.timer = null;
    const agents = new Map(this.dirtyAgents);
    const kinds = new Set(this.dirtyKinds);
    this.dirtyAgents.clear();
    this.dirtyKinds.clear();
    const views = new Map<string, AgentView | null>();
    for (const name of agents.keys()) views.set(name, await this.control.getAgent(name).catch(() => null));
    for (const s of this.subs) {
      for (const [name, view] of views) {
        if (!view || !mayActOn(s.principal, name, view.owner)) continue;
        if (s.view === 'fleet' || (s.view === 'agent' && s.agent === name)) s.out.push({ type: 'agent', agent: view });
        if (s.view === 'agent' && s.agent === name) {
          const changed = [...(agents.get(name) ?? [])];
          if (changed.length) s.out.push({ type: 'changed', kinds: changed });
        }
      }
      const wanted = VIEW_KINDS[s.view].filter((k) => kinds.has(k) && s.view !== 'agent');
      if (wanted.length) s.out.push({ type: 'changed', kinds: wanted });
    }
  }

  /** Serves one socket until it closes. */
  attach(socket: WebSocket, req: FastifyRequest, view: View, agent: string | null, onDropped: (n: number) => void): void {
    const out = new FollowSocket(socket, MAX_BUFFERED, (n) => {
      this.dropped += n;
      onDropped(n);
    });
    const sub: Subscriber = { view, agent, principal: req.principal, out };
    this.subs.add(sub);
    if (!this.unfollow) this.unfollow = this.logs.follow(null, (l) => this.fromLog(l), () => this.mark('jobs'));
    let unfollowAgent: (() => void) | null = null;
    if (view === 'agent' && agent) {
      unfollowAgent = this.control.followLogs(agent, (line) => out.push({ type: 'log', line }), (n) => out.addDropped(n));
    }
    out.push({ type: 'hello', view, agent });
    out.onClose(() => {
      unfollowAgent?.();
      this.subs.delete(sub);
      if (this.subs.size === 0) {
        this.unfollow?.();
        this.unfollow = null;
      }
    });
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unfollow?.();
    this.unfollow = null;
  }
}

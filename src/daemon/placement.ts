// The daemon's side of cluster placement (src/cluster): on PostgreSQL every daemon is a node that
// runs the agent instances it holds leases of; on SQLite there is one node and no leases (every
// instance runs here, nothing is fenced). Starts and stops instances as leases come and go,
// releases a dead node's event deliveries when its instances move here, and fences run commits.
import type { ProjectConfig } from '../config/types.js';
import type { Store } from '../store/types.js';
import { clusterStoreModule } from '../cluster/schema.js';
import { resolveCluster, type ClusterSection } from '../cluster/config.js';
import { LeaseManager, type HeldLease } from '../cluster/leases.js';
import type { AgentAction, NodeView } from './control.js';
import { reconcileAction } from '../cluster/lifecycle.js';
import type { AgentController } from './agent-controller.js';
import type { FenceSource } from './run-transaction.js';
import { ConfigError } from '../util/errors.js';

export interface PlacementHooks {
  controller(agent: string): AgentController | undefined;
  desired(agent: string): Promise<'running' | 'paused' | 'stopped'>;
  /** The first instance of a scheduled agent moved here: take its schedule over (catch up, recover fires). */
  scheduleTakenOver(agent: string): Promise<void>;
  log(level: 'info' | 'warning' | 'error', msg: string): void;
  /** Fenced commit attempts, by result (openclaw_cluster_commits_total). */
  counted?(result: 'accepted' | 'fenced' | 'failed'): void;
}

export class Placement {
  private constructor(readonly leases: LeaseManager | null) {}

  /** Solo on SQLite (a `cluster:` section there is a configuration error); a node on PostgreSQL. */
  static async open(config: ProjectConfig, store: Store, hooks: PlacementHooks): Promise<Placement> {
    const section = config.extensions?.cluster as ClusterSection | undefined;
    const h = store.handle();
    if (h.dialect !== 'postgres') {
      if (section) {
        throw new ConfigError([
          { file: config.file, line: null, column: null, field: 'cluster', message: 'several daemons need a PostgreSQL store: a SQLite store has one daemon; remove `cluster:` or set `store: postgres://…`' },
        ]);
      }
      return new Placement(null);
    }
    await store.migrateModule(clusterStoreModule);
    const cfg = resolveCluster(section, config.dataDir);
    const slots = config.agents.filter((a) => a.enabled).flatMap((a) => Array.from({ length: a.replicas }, (_, i) => ({ agent: a.name, instance: `${a.name}#${i}` })));
    const released = async (agent: string, prev: { owner: string | null; alive: boolean }) => {
      // A lease handed over has no owner left; one taken with an owner still on it expired: that node
      // stopped renewing (dead, or paused — then fencing refuses whatever it commits on waking). Its
      // claimed deliveries of this agent come back now, not at their own lease's end. Its heartbeat
      // row may still look alive for a moment (renewed in the same tick as its leases), so `alive`
      // is not the test: waiting on it left deliveries stuck for their 60 s lease after a kill -9.
      if (!prev.owner || prev.owner === cfg.nodeId) return;
      const n = await store.releaseDeliveries(agent, prev.owner);
      if (n > 0) hooks.log('info', `cluster: ${n} delivery(ies) of '${agent}' claimed by node '${prev.owner}' (lease expired${prev.alive ? '' : ', node gone'}) released`);
    };
    const mgr = new LeaseManager(h, cfg, slots, {
      acquired: async (lease, prev) => {
        await released(lease.agent, prev);
        hooks.log('info', `cluster: ${lease.instance} runs here now (epoch ${lease.epoch}${prev.owner ? `, from '${prev.owner}'` : ''})`);
        const c = hooks.controller(lease.agent);
        if (!c) return;
        if (mgr.heldOf(lease.agent).length === 1 && c.scheduleSpec) await hooks.scheduleTakenOver(lease.agent);
        await c.placeInstance(lease.instance, await hooks.desired(lease.agent));
      },
      lost: async (lease: HeldLease, reason) => {
        await hooks.controller(lease.agent)?.unplaceInstance(lease.instance, `lease lost: ${reason}`);
      },
      log: hooks.log,
    });
    // A lifecycle action asked on another node: act on this node's instances of the agent.
    await mgr.lifecycle.listen(({ agent, action, from }) => {
      const c = hooks.controller(agent);
      if (!c || mgr.heldOf(agent).length === 0) return;
      hooks.log('info', `cluster: '${action}' of '${agent}' asked on node '${from}'; applying it to the instances here`);
      void applyAction(c, action as AgentAction).catch((err: Error) => hooks.log('warning', `cluster: '${action}' of '${agent}' (asked on '${from}') failed here: ${err.message}`));
    });
    // The NOTIFY above is not durable: after the lease connection comes back, the agents run here
    // are brought to their stored desired state (what a missed stop/pause/resume/start asked).
    mgr.lifecycle.onReconnect(() => {
      const agents = new Set([...mgr.heldAll()].map((l) => l.agent));
      void reconcile(agents, hooks).catch((err: Error) => hooks.log('warning', `cluster: reconciling agents with their desired state failed: ${err.message}`));
    });
    const p = new Placement(mgr);
    p.released = released;
    p.counted = hooks.counted;
    return p;
  }

  private counted?: (result: 'accepted' | 'fenced' | 'failed') => void;
  private released?: (agent: string, prev: { owner: string | null; alive: boolean }) => Promise<void>;

  get nodeId(): string | null {
    return this.leases?.nodeId ?? null;
  }

  /** Whether this node runs the instance (always, on a single daemon). */
  placed(instanceId: string): boolean {
    return this.leases ? this.leases.holds(instanceId) : true;
  }

  /** Whether this node runs any instance of the agent (its schedule fires here). */
  runsAgent(agent: string): boolean {
    return this.leases ? this.leases.heldOf(agent).length > 0 : true;
  }

  fence(): FenceSource | undefined {
    const mgr = this.leases;
    if (!mgr) return undefined;
    return {
      of: (instance) => mgr.fence(instance),
      settled: (_instance, result) => {
        mgr.settled(result);
        this.counted?.(result);
      },
    };
  }

  /**
   * Registers the node, adopts what its previous boot held and takes its share of the free
   * leases — before the agents start, so the boot's start loop starts exactly these instances.
   */
  /** Registers the node (live heartbeat) before the modules start; no leases yet. */
  async register(): Promise<void> {
    await this.leases?.register(null);
  }

  async join(address: string | null): Promise<void> {
    for (const { lease, prev } of (await this.leases?.join(address)) ?? []) await this.released?.(lease.agent, prev);
  }

  start(): void {
    this.leases?.start();
  }

  /** SIGTERM: hands every lease over after stopping its instance gracefully. */
  async drain(): Promise<void> {
    await this.leases?.drain();
  }

  close(): void {
    this.leases?.close();
  }

  /** Whether a lifecycle action asked here acts on local instances (a single daemon: always). */
  actsHere(agent: string): boolean {
    return this.runsAgent(agent);
  }

  /** After a lifecycle action asked here (its desired state stored): the other nodes act on theirs. */
  async announce(agent: string, action: AgentAction): Promise<void> {
    await this.leases?.lifecycle.announce(agent, action);
  }

  async nodes(): Promise<NodeView[]> {
    return this.leases ? this.leases.nodes() : [];
  }

  /** instance → node running it (an empty map on a single daemon). */
  async owners(): Promise<Map<string, string>> {
    return this.leases ? this.leases.owners() : new Map();
  }
}

/** Brings the agents run here to their stored desired state (after announcements may have been missed). */
export async function reconcile(agents: Iterable<string>, hooks: Pick<PlacementHooks, 'controller' | 'desired' | 'log'>): Promise<string[]> {
  const done: string[] = [];
  for (const agent of agents) {
    const c = hooks.controller(agent);
    if (!c) continue;
    const status = c.status();
    const desired = await hooks.desired(agent);
    // A lifecycle action that ran here while the desired state was read wins over the reconcile.
    if (c.status() !== status) continue;
    const action = reconcileAction(desired, status);
    if (!action) continue;
    hooks.log('info', `cluster: '${agent}' is ${status} here but its desired state says ${action} (an announcement was missed while the lease connection was down); applying it`);
    try {
      await applyAction(c, action);
      done.push(`${agent}:${action}`);
    } catch (err) {
      hooks.log('warning', `cluster: reconciling '${agent}' (${action}) failed: ${(err as Error).message}`);
    }
  }
  return done;
}

/** A lifecycle action on the instances of this node (those it holds leases of, in a cluster). */
export async function applyAction(c: AgentController, action: AgentAction): Promise<void> {
  switch (action) {
    case 'start':
      return c.startExplicit();
    case 'stop':
      return c.stop('stop requested');
    case 'pause':
      return c.pause();
    case 'resume':
      return c.resume();
    case 'restart':
      return c.restart('restart requested');
  }
}

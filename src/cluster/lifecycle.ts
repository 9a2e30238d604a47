// Lifecycle actions across nodes (openclaw pause|resume|stop|start|restart asked on any node): the
// node asked stores the desired state and acts on its own instances; the others hear a NOTIFY on
// the lease connection (conn.ts) and act on theirs.
//
// NOTIFY is not durable: a node whose lease connection was down when it was sent never hears it.
// So after every reconnection of that connection the node reconciles the agents it runs against
// the stored desired state (`onReconnect`; placement.ts). A restart has no desired state and is
// not replayed: a node that missed it keeps its instances running as they were.
import { createHash } from 'node:crypto';
import type { DedicatedConnection } from './conn.js';

export interface LifecycleMessage {
  agent: string;
  action: string;
  from: string;
}

export class LifecycleChannel {
  private readonly channel: string;

  constructor(
    private readonly conn: DedicatedConnection,
    private readonly pool: { query(text: string, values: unknown[]): Promise<unknown> },
    schemaName: string,
    private readonly nodeId: string,
  ) {
    this.channel = `oc_lifecycle_${createHash('sha256').update(schemaName).digest('hex').slice(0, 24)}`;
  }

  /** Calls `fn` with the actions asked on the other nodes. */
  async listen(fn: (msg: LifecycleMessage) => void): Promise<void> {
    await this.conn.listen(this.channel, (payload) => {
      try {
        const msg = JSON.parse(payload) as LifecycleMessage;
        if (msg.from !== this.nodeId) fn(msg);
      } catch {
        // not ours
      }
    });
  }

  /** After every reconnection of the lease connection (not the first connection): announcements may have been missed. */
  onReconnect(fn: () => void): void {
    this.conn.onReconnect(fn);
  }

  async announce(agent: string, action: string): Promise<void> {
    await this.pool.query(`SELECT pg_notify($1, $2)`, [this.channel, JSON.stringify({ agent, action, from: this.nodeId })]);
  }
}

/**
 * What a node does to the instances it runs of an agent so they match the stored desired state
 * (null: they already do, or the state is one the node does not change by itself — starting,
 * crash loop, error).
 */
export function reconcileAction(desired: 'running' | 'paused' | 'stopped', status: string): 'stop' | 'pause' | 'resume' | 'start' | null {
  if (desired === 'stopped') return status === 'stopped' ? null : 'stop';
  if (desired === 'paused') return status === 'running' ? 'pause' : null;
  if (status === 'paused') return 'resume';
  return status === 'stopped' ? 'start' : null;
}

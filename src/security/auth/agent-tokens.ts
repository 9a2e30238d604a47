// Command agents' OPENCLAW_TOKEN: one token per spawned instance, minted at spawn, kept only as a
// hash in the daemon's memory. Spawning the instance again replaces its token; a token whose
// instance is no longer live is refused; a daemon restart forgets them all.
import { formatToken, newSecret, newTokenId, secretMatches, hashSecret } from './tokens.js';

interface Entry {
  agent: string;
  instanceId: string;
  hash: string;
}

export class AgentTokens {
  private readonly byId = new Map<string, Entry>();
  private readonly byInstance = new Map<string, string>();

  /** `isLive(agent, instanceId)`: whether that instance still runs (asked at each verification). */
  constructor(private readonly isLive: (agent: string, instanceId: string) => boolean) {}

  mint(agent: string, instanceId: string): string {
    const old = this.byInstance.get(instanceId);
    if (old) this.byId.delete(old);
    const id = newTokenId();
    const secret = newSecret();
    this.byId.set(id, { agent, instanceId, hash: hashSecret(secret) });
    this.byInstance.set(instanceId, id);
    return formatToken('agent', id, secret);
  }

  /** The agent and instance a token belongs to, or null (unknown, replaced, or instance gone). */
  verify(id: string, secret: string): { agent: string; instanceId: string; id: string } | null {
    const e = this.byId.get(id);
    if (!e || !secretMatches(secret, e.hash)) return null;
    if (!this.isLive(e.agent, e.instanceId)) {
      this.byId.delete(id);
      this.byInstance.delete(e.instanceId);
      return null;
    }
    return { agent: e.agent, instanceId: e.instanceId, id };
  }

  get size(): number {
    return this.byId.size;
  }
}

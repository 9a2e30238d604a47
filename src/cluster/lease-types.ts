// The lease manager's types (leases.ts), apart so placement and tests import them without the manager.
export interface LeaseSlot {
  agent: string;
  instance: string;
}

export interface HeldLease extends LeaseSlot {
  epoch: number;
}

export interface PlacementListener {
  /** This node now holds the instance (prevOwner: who held it before, and whether that node is still alive). */
  acquired(lease: HeldLease, prev: { owner: string | null; alive: boolean }): Promise<void>;
  /** The instance's lease is gone or being handed over: stop it here. */
  lost(lease: HeldLease, reason: string): Promise<void>;
  log(level: 'info' | 'warning' | 'error', msg: string): void;
}

export interface FenceCounts {
  attempts: number;
  accepted: number;
  fenced: number;
  failed: number;
}

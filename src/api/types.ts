// The wire shapes of the control API's answers: what the routes return and the CLI's client reads.
// Collections are wrapped in an object (`{ agents: [...] }`) so fields can be added without breaking.
import type { AgentView, HealthView, NodeView } from '../daemon/control.js';
import type { DeadLetter, RunRecord, StateVersionInfo, StoredEvent, Transition } from '../store/types.js';
import type { LogLine } from '../runtime/protocol.js';

export type { AgentView, HealthView, NodeView, DeadLetter, RunRecord, StateVersionInfo, StoredEvent, Transition, LogLine };

export interface AgentsResponse {
  agents: AgentView[];
}
export interface NodesResponse {
  nodes: NodeView[];
}
export interface TriggerResponse {
  agent: string;
  runId: string;
}
export interface RunsResponse {
  runs: RunRecord[];
}
export interface TransitionsResponse {
  transitions: Transition[];
}
export interface StateResponse {
  agent: string;
  version: number;
  state: Record<string, unknown>;
}
export interface StateVersionsResponse {
  versions: StateVersionInfo[];
}
export interface RollbackResponse {
  agent: string;
  rolledBackTo: number;
  /** The new version that the rollback wrote. */
  version: number;
}
export interface WriteStateResponse {
  agent: string;
  version: number;
}
export interface StateWriteRequest {
  key: string;
  value?: unknown;
  deleted?: boolean;
  ttlMs?: number;
}
export interface LogsResponse {
  lines: LogLine[];
}
/** Frames on the `/logs/follow` WebSocket besides plain LogLine objects. */
export type FollowControlFrame = { type: 'dropped'; count: number } | { type: 'error'; error: { code: string; message: string } };
export interface PublishResponse {
  id: string;
  published: boolean;
}
export interface EventsResponse {
  events: StoredEvent[];
}
export interface DeadLettersResponse {
  deadLetters: DeadLetter[];
}
export interface RedriveResponse {
  redriven: number;
}
export interface DaemonStopResponse {
  stopping: true;
  reason: string;
}

import type { TokenInfo } from '../contracts/tokens.js';
export type { TokenInfo } from '../contracts/tokens.js';
export interface CreatedTokenResponse {
  token: string;
  record: TokenInfo;
}
export interface TokensResponse {
  tokens: TokenInfo[];
}
export interface RevokeTokenResponse {
  id: string;
  revoked: true;
  alreadyRevoked: boolean;
}

/** POST /api/streams/:name/events: partial success per line. */
export interface StreamIngestResponse {
  accepted: number;
  rejected: number;
  errors: Array<{ line: number; reason: string }>;
  errors_truncated?: number;
  /** With ?wait=true: lines dropped as repeated event ids, and the stream position after the append. */
  duplicates?: number;
  seq?: number;
}

// The runtime: agent hosts (child processes holding worker threads that run TypeScript agents),
// command agents, and the protocol between them and the daemon.
export { createRuntime, InstanceGoneError, coldStartMs, workerSource, sparesReady, type RuntimeOptions } from './runtime.js';
export type { Runtime, RuntimeListener, InstanceHandle, CommandHandle, CommandAgentSpec } from './types.js';
export type {
  AgentSpec,
  AgentDescription,
  Invocation,
  InvocationEvent,
  InvocationKind,
  InvocationResult,
  RpcRequest,
  RpcResponse,
  LogLine,
  MetricSample,
  MemorySample,
  InstanceExit,
  ExitReason,
  SerializedError,
} from './protocol.js';

// `openclaw`: the public API for agent authors.
//
//   import { Agent, Schedule, on } from 'openclaw-runtime';
//   import { HttpClient, SlackNotifier } from 'openclaw-runtime/tools';
export { Agent, Schedule, ScheduleError, on, job, window, describeAgentClass, isAgentClass, AgentDefinitionError } from './agents/index.js';
export type {
  AgentClass,
  AgentConfigView,
  AgentEvent,
  EveryParts,
  HandlerMap,
  OnDecorator,
  TriggerInfo,
  AgentRuntimeContext,
  StateApi,
  ReadOnlyState,
  SharedStateApi,
  Logger,
  Metrics,
  LlmApi,
  LlmCompletion,
  LlmRequest,
  LlmMessage,
  JobsApi,
  StreamsApi,
  WindowDeclaration,
  JobDecorator,
} from './agents/index.js';
export { LLMRouter, Budget } from './llm/sdk.js';
export type { LLMRouterOptions, LLMRouterBudget } from './llm/sdk.js';
export type { EnqueueOptions, EnqueueRequest, JobInfo, JobRecord, BackoffSpec, IdempotencyMode } from './jobs/types.js';
export type { JobHandlerOptions } from './jobs/policy.js';
export { UnrecoverableJobError } from './jobs/errors.js';
export type { ScheduleSpec } from './scheduler/types.js';
export { OpenClawError, ConfigError, NotFoundError, BadRequestError, StateConflictError, StateSizeError } from './util/errors.js';
export { defineWorkflow } from './workflows/define.js';
export type { WorkflowDefinition } from './workflows/define.js';

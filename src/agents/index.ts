// The Agent SDK: what agent authors import (through src/index.ts) and what the runtime uses to
// read an agent class (describeAgentClass, findAgentClass) and to scaffold new agents (templates).
export { Agent, AGENT_CLASS_BRAND, createConfigView } from './agent.js';
export type { AgentClass, AgentConfigView, AgentEvent, HandlerMap, TriggerInfo } from './agent.js';
export { Schedule, ScheduleError, parseDuration, isScheduleSpec } from './schedule.js';
export type { EveryParts } from './schedule.js';
export { on, job, window } from './decorators.js';
export type { WindowDeclaration } from './decorators.js';
export type { OnDecorator, JobDecorator } from './decorators.js';
export { describeAgentClass, findAgentClass, isAgentClass, AgentDefinitionError } from './describe.js';
export { listTemplates, renderTemplate, templatesDir } from './templates.js';
export type { TemplateInfo, RenderedTemplate } from './templates.js';
export type * from './context.js';

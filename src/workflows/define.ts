// Workflows in TypeScript: a file that default-exports `defineWorkflow({...})`, referenced from
// openclaw.yaml as `workflows: { NAME: { source: ./workflows/x.ts } }`. The object has the same
// keys as a YAML workflow (steps, needs, if, for_each, retry, on_failure, triggers…) and is
// validated by the same schema at load (source.ts), so TypeScript adds type checking and reuse,
// not a second dialect. This file is part of the SDK: it imports types only.
import type { z } from 'zod';
import type { workflowBodySchema } from './config.js';

/** The input type of a workflow definition (durations as '30s' or seconds, as in YAML). */
export type WorkflowDefinition = z.input<typeof workflowBodySchema>;

/** Declares a workflow in TypeScript; returns it unchanged (the daemon validates it at load). */
export function defineWorkflow<T extends WorkflowDefinition>(definition: T): T {
  return definition;
}

// Loads a workflow written in TypeScript (see define.ts) and validates it like YAML.
import { register } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigError, type ConfigIssue } from '../util/errors.js';
import { runtimeFiles, tsxUrls } from '../runtime/paths.js';
import { workflowBodySchema, type WorkflowBody } from './config.js';

let hookRegistered = false;

/** Imports a workflow file and validates its default export (or `workflow` export). */
export async function loadWorkflowFile(name: string, file: string): Promise<WorkflowBody> {
  const issue = (message: string, field = `workflows.${name}`): ConfigError => new ConfigError([{ file, line: null, column: null, field, message } satisfies ConfigIssue]);
  if (!fs.existsSync(file)) throw issue(`workflow source ${file} does not exist`, `workflows.${name}.source`);
  if (!hookRegistered) {
    // As in agent hosts (runtime/host-main.ts): tsx for TypeScript, then the resolve hook so that
    // `import { defineWorkflow } from 'openclaw-runtime'` in the file is this daemon's SDK.
    ((await import(tsxUrls().api)) as { register: () => unknown }).register();
    register(runtimeFiles.resolveHook, { data: runtimeFiles.sdk });
    hookRegistered = true;
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw issue(`cannot load workflow source: ${(err as Error).message.split('\n')[0]}`, `workflows.${name}.source`);
  }
  const value = (mod.default as { default?: unknown } | undefined)?.default ?? mod.default ?? mod.workflow;
  if (value === undefined) throw issue(`${path.basename(file)} must \`export default defineWorkflow({...})\``, `workflows.${name}.source`);
  const parsed = workflowBodySchema.safeParse(value);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => ({ file, line: null, column: null, field: [`workflows.${name}`, ...i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))].join(''), message: i.message })));
  }
  return parsed.data;
}

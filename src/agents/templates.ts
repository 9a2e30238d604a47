// Agent templates for `openclaw agent create --template NAME` and `openclaw templates list`.
// Each template is a folder under <package>/templates/ with `agent.ts` and `template.json`
// ({ description, yaml }). Placeholders in both: {{name}} (agent name), {{className}}, {{file}}.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadRequestError, NotFoundError, OpenClawError } from '../util/errors.js';

export interface TemplateInfo {
  name: string;
  description: string;
}

export interface RenderedTemplate {
  /** Relative to the project root, e.g. agents/monitor.ts */
  file: string;
  source: string;
  /** The agent's entry for openclaw.yaml, indented to sit under `agents:`. */
  yaml: string;
}

/**
 * <package>/templates. This module is src/agents/templates.ts in development and
 * dist/agents/templates.js when installed: the package root is two levels up in both.
 */
export function templatesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = resolve(here, '..', '..', 'templates');
  if (!existsSync(dir)) {
    throw new OpenClawError('templates_missing', `the agent templates are missing (looked in ${dir}); reinstall openclaw`, { status: 500 });
  }
  return dir;
}

interface TemplateJson {
  description: string;
  yaml: string;
}

function readTemplateJson(dir: string, name: string): TemplateJson {
  const file = join(dir, name, 'template.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new OpenClawError('templates_invalid', `${file}: ${(err as Error).message}`, { status: 500 });
  }
  const t = parsed as Partial<TemplateJson>;
  if (typeof t.description !== 'string' || typeof t.yaml !== 'string') {
    throw new OpenClawError('templates_invalid', `${file}: needs string fields "description" and "yaml"`, { status: 500 });
  }
  return t as TemplateJson;
}

export function listTemplates(): TemplateInfo[] {
  const dir = templatesDir();
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'template.json')) && existsSync(join(dir, d.name, 'agent.ts')))
    .map((d) => ({ name: d.name, description: readTemplateJson(dir, d.name).description }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** 'uptime-monitor' → 'UptimeMonitor'; a leading digit gets an 'Agent' prefix. */
export function classNameFor(agentName: string): string {
  const pascal = agentName
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
  return /^[0-9]/.test(pascal) ? `Agent${pascal}` : pascal || 'MyAgent';
}

const AGENT_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

export function renderTemplate(templateName: string, agentName: string): RenderedTemplate {
  if (typeof agentName !== 'string' || !AGENT_NAME.test(agentName)) {
    throw new BadRequestError(
      `invalid agent name ${JSON.stringify(agentName)}: use lower-case letters, digits, '-' and '_', starting with a letter (at most 63 characters)`,
      'agent_name_invalid',
    );
  }
  const dir = templatesDir();
  const available = listTemplates();
  if (!available.some((t) => t.name === templateName)) {
    throw new NotFoundError('template', templateName, `available: ${available.map((t) => t.name).join(', ')}`);
  }
  const meta = readTemplateJson(dir, templateName);
  const file = `agents/${agentName}.ts`;
  const vars: Record<string, string> = { name: agentName, className: classNameFor(agentName), file };
  const fill = (text: string) => text.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, k: string) => vars[k] ?? m);
  const source = fill(readFileSync(join(dir, templateName, 'agent.ts'), 'utf8'));
  const yaml = fill(meta.yaml).replace(/\s*$/, '\n');
  return { file, source, yaml };
}

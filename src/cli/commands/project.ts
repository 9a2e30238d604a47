// Commands that work on the project folder, not on a daemon: `init`, `agent create`,
// `templates list`.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseDocument, isMap, type Node } from 'yaml';
import { listTemplates, renderTemplate } from '../../agents/templates.js';
import { OpenClawError } from '../../util/errors.js';
import { createKeyFile, MASTER_KEY_FILE } from '../../security/secrets/crypto.js';
import { findProjectDir } from '../client.js';
import { packageJson, SDK_PACKAGE, sdkDependency, TSCONFIG_JSON } from '../project-package.js';
import type { CliContext } from '../context.js';
import { jsonOption } from '../context.js';
import { UsageError } from '../errors.js';
import { renderTable } from '../format.js';

export function registerProject(program: Command, ctx: CliContext): void {
  program
    .command('init <name>')
    .description('create a new project folder: openclaw.yaml, agents/, package.json, tsconfig.json, tests/, docker-compose.yml, .openclaw/')
    .option('--sdk <path>', `depend on ${SDK_PACKAGE} from a tarball (npm pack) or a built checkout instead of the npm registry`)
    .action((name: string, opts: { sdk?: string }) => {
      const dir = path.resolve(ctx.cwd, name);
      const created = initProject(dir, sdkDependency(ctx.cwd, opts.sdk));
      ctx.print(`Created project ${path.basename(dir)} in ${dir}`);
      for (const f of created) ctx.print(`  ${f}`);
      ctx.print(`\nNext:\n  cd ${name}\n  npm install        # the SDK's types, for your editor and \`npx tsc --noEmit\`\n  openclaw dev`);
    });

  const agent = program.command('agent').description('agents in this project');
  agent
    .command('create')
    .description('add an agent from a template: writes agents/NAME.ts and its entry in openclaw.yaml')
    .requiredOption('--name <name>', 'agent name (lower-case letters, digits, - and _)')
    .requiredOption('--template <template>', 'template name (see `openclaw templates list`)')
    .option('--project <dir>', 'project folder (default: the nearest folder above the cwd holding openclaw.yaml)')
    .action((opts: { name: string; template: string; project?: string }) => {
      const root = projectRoot(ctx, opts.project);
      const { file } = createAgent(root, opts.name, opts.template);
      ctx.print(`Created agent ${opts.name} from template ${opts.template}:\n  ${file}\n  openclaw.yaml (agents.${opts.name})`);
    });

  const templates = program.command('templates').description('agent templates');
  const list = templates.command('list').description('list the agent templates');
  jsonOption(list).action((opts: { json?: boolean }) => {
    const all = listTemplates();
    if (opts.json) return ctx.printJson({ templates: all });
    ctx.print(renderTable(['Template', 'Description'], all.map((t) => [t.name, t.description])));
  });
}

export function projectRoot(ctx: CliContext, project: string | undefined): string {
  if (project) {
    const p = path.resolve(ctx.cwd, project);
    const dir = fs.existsSync(p) && fs.statSync(p).isFile() ? path.dirname(p) : p;
    if (!fs.existsSync(path.join(dir, 'openclaw.yaml'))) throw new UsageError(`--project ${project}: no openclaw.yaml in ${dir}`);
    return dir;
  }
  const found = findProjectDir(ctx.cwd);
  if (!found) throw new UsageError(`no openclaw.yaml in ${ctx.cwd} or any folder above it; create a project with \`openclaw init NAME\`, or pass --project DIR`);
  return found;
}

/** Writes a new project; returns the paths created, relative to `dir`. */
export function initProject(dir: string, sdkSpec = sdkDependency(process.cwd(), undefined)): string[] {
  const name = path.basename(dir);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new UsageError(`init: '${name}' is not a usable project name; use letters, digits, '.', '_' and '-'`);
  }
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw new OpenClawError('project_exists', `${dir} already exists and is not empty; pick another name or remove it`);
  }
  const files: Record<string, string> = {
    'openclaw.yaml': OPENCLAW_YAML(name),
    'agents/hello.ts': HELLO_AGENT,
    'tests/README.md': TESTS_README,
    'docker-compose.yml': DOCKER_COMPOSE,
    '.gitignore': GITIGNORE,
    'package.json': packageJson(name, sdkSpec),
    'tsconfig.json': TSCONFIG_JSON,
  };
  fs.mkdirSync(path.join(dir, '.openclaw'), { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text, { flag: 'wx' });
  }
  // The master key for `openclaw secrets` (mode 0600, git-ignored with .openclaw/); back it up.
  createKeyFile(path.join(dir, '.openclaw'));
  return [...Object.keys(files), '.openclaw/', `.openclaw/${MASTER_KEY_FILE} (the secrets' master key: keep it private, back it up)`];
}

/** Renders a template into the project: the agent file, and its entry under `agents:`. */
export function createAgent(root: string, agentName: string, template: string): { file: string } {
  const rendered = renderTemplate(template, agentName);
  const configFile = path.join(root, 'openclaw.yaml');
  const doc = parseDocument(fs.readFileSync(configFile, 'utf8'));
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new UsageError(`${configFile}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}; fix the file, then run the command again`);
  }
  if (doc.hasIn(['agents', agentName])) {
    throw new OpenClawError('agent_exists', `openclaw.yaml already declares an agent '${agentName}'; pick another --name`);
  }
  const target = path.resolve(root, rendered.file);
  if (fs.existsSync(target)) throw new OpenClawError('file_exists', `${rendered.file} already exists; pick another --name or move the file`);

  const entry = agentEntry(rendered.yaml, agentName);
  if (!isMap(doc.get('agents'))) doc.set('agents', doc.createNode({}));
  doc.setIn(['agents', agentName], entry);

  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, rendered.source, { flag: 'wx' });
  fs.writeFileSync(configFile, doc.toString());
  return { file: rendered.file };
}

/** The template's YAML is `name:\n  source: …` (indented to sit under agents:), or just the body. */
function agentEntry(yamlText: string, agentName: string): Node {
  const snippet = parseDocument(yamlText);
  const contents = snippet.contents;
  if (isMap(contents) && contents.items.length === 1 && String((contents.items[0]!.key as { value?: unknown })?.value ?? contents.items[0]!.key) === agentName) {
    return contents.items[0]!.value as Node;
  }
  if (isMap(contents) && contents.has('agents')) return snippet.getIn(['agents', agentName], true) as Node;
  return contents as Node;
}

const OPENCLAW_YAML = (name: string) => `# openclaw.yaml: the project's agents and how OpenClaw runs them.
project: ${name}
version: "1.0"

# The control API (\`openclaw status\`, \`openclaw logs\`, …) listens on loopback only by default.
# api:
#   host: 127.0.0.1
#   port: 8400

agents:
  hello:
    source: agents/hello.ts
    schedule: every 1m
    config:
      greeting: Hello
`;

const HELLO_AGENT = `// A small agent: every minute it counts its runs in persistent state and logs a greeting.
// Try: openclaw dev, then in another terminal: openclaw status, openclaw logs hello --follow,
// openclaw trigger hello, openclaw state list hello.
import { Agent } from 'openclaw-runtime';

export default class Hello extends Agent {
  async run(): Promise<void> {
    const runs = (await this.state.get<number>('runs', 0)) + 1;
    await this.state.set('runs', runs);
    this.logger.info(\`\${this.config.get('greeting', 'Hello')} from run \${runs}\`);
  }
}
`;

const TESTS_README = `# Agent tests

Put your agent tests here (for example with vitest). Agents are plain classes: construct one,
attach a test context, and call run().
`;

const DOCKER_COMPOSE = `# docker-compose.yml: a local stack for when you outgrow the embedded defaults.
# OpenClaw needs none of this to start: it keeps state in SQLite under .openclaw/ and runs its
# event bus in-process. Uncomment the services when you move to PostgreSQL and Redis.
services: {}
#  postgres:
#    image: postgres:16
#    environment:
#      POSTGRES_PASSWORD: openclaw
#      POSTGRES_DB: openclaw
#    ports: ["127.0.0.1:5432:5432"]
#    volumes: [pgdata:/var/lib/postgresql/data]
#  redis:
#    image: redis:7
#    ports: ["127.0.0.1:6379:6379"]
#
# volumes:
#   pgdata: {}
`;

const GITIGNORE = `# OpenClaw's local state: database, logs, daemon pid/url
.openclaw/
node_modules/
*.log
`;

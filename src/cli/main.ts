// The `openclaw` command line. Each command group lives in ./commands; all of them reach the
// daemon through the typed client in ./client.ts. Exit codes: 0 ok, 1 failure (including "no
// daemon answering"), 2 usage or CLI configuration error, 78 when the daemon refuses a config.
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { OpenClawError } from '../util/errors.js';
import { VERSION } from '../version.js';
import { DaemonUnreachableError } from './client.js';
import { CliContext, type CliIO } from './context.js';

/** Adds one group of commands to the program. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void;

/**
 * The command groups, each loaded on demand: `openclaw status` imports status.ts alone, not the
 * store drivers (secrets, audit), the daemon (dev, daemon start) or the SDK (init's templates).
 * `names` are the top-level commands a group adds (test/cli/lazy.test.ts checks they match);
 * anything else (help, a typo) loads every group so commander can answer.
 */
export const COMMAND_GROUPS: Array<{ names: string[]; load: () => Promise<RegisterCommands> }> = [
  { names: ['init', 'agent', 'templates'], load: async () => (await import('./commands/project.js')).registerProject },
  { names: ['dev', 'daemon'], load: async () => (await import('./commands/daemon.js')).registerDaemon },
  { names: ['status', 'nodes'], load: async () => (await import('./commands/status.js')).registerStatus },
  { names: ['start', 'stop', 'pause', 'resume', 'restart', 'trigger'], load: async () => (await import('./commands/agents.js')).registerAgentActions },
  { names: ['logs'], load: async () => (await import('./commands/logs.js')).registerLogs },
  { names: ['state'], load: async () => (await import('./commands/state.js')).registerState },
  { names: ['events'], load: async () => (await import('./commands/events.js')).registerEvents },
  { names: ['dead-letters'], load: async () => (await import('./commands/dead-letters.js')).registerDeadLetters },
  { names: ['secrets'], load: async () => (await import('./commands/secrets.js')).registerSecrets },
  { names: ['audit'], load: async () => (await import('./commands/audit.js')).registerAudit },
  { names: ['keys'], load: async () => (await import('./commands/keys.js')).registerKeys },
  { names: ['usage'], load: async () => (await import('./commands/usage.js')).registerUsage },
  { names: ['token'], load: async () => (await import('./commands/token.js')).registerToken },
  { names: ['workflow', 'approve', 'reject'], load: async () => (await import('./commands/workflow.js')).registerWorkflow },
  { names: ['jobs', 'queues'], load: async () => (await import('./commands/jobs.js')).registerJobs },
  { names: ['stream'], load: async () => (await import('./commands/stream.js')).registerStream },
];

/** The first operand of argv (node, script, ...args): the command name, if any. */
function commandOf(argv: string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith('-'));
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The program with every group, or only the group that defines `command` when one does. */
export async function buildProgram(ctx: CliContext, command?: string): Promise<Command> {
  const program = new Command('openclaw')
    .description('OpenClaw: an always-on runtime for AI agents')
    // Options belong to the command they follow, so `state get NAME --version v140` is the
    // state version and not the CLI's.
    .enablePositionalOptions()
    .version(VERSION, '-V, --version', 'print the CLI version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('version')
    .description('print the CLI and runtime versions')
    .action(() => ctx.print(`OpenClaw CLI v${VERSION} (runtime v${VERSION}, Node ${process.version})`));

  const one = command === undefined ? undefined : COMMAND_GROUPS.find((g) => g.names.includes(command));
  const groups = one ? [one] : COMMAND_GROUPS;
  for (const register of await Promise.all(groups.map((g) => g.load()))) register(program, ctx);
  return program;
}

/** Runs the CLI on `argv` (as process.argv: node, script, ...args) and returns the exit code. */
export async function run(
  argv: string[] = process.argv,
  io: CliIO = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) },
): Promise<number> {
  const ctx = new CliContext(io, process.env, process.cwd());
  try {
    const program = await buildProgram(ctx, commandOf(argv));
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (err) {
    return reportError(err, ctx);
  }
}

function reportError(err: unknown, ctx: CliContext): number {
  if (err instanceof CommanderError) {
    // Commander already printed its message (or the help / version text).
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (err instanceof OpenClawError) {
    ctx.warn(`error: ${err.message}`);
    if (err instanceof DaemonUnreachableError && ctx.lastTarget?.stalePid !== undefined) {
      ctx.warn(`(.openclaw/daemon.json names pid ${ctx.lastTarget.stalePid}, which is not running: the daemon stopped without cleaning up)`);
    }
    return err.exitCode;
  }
  ctx.warn(`error: ${(err as Error)?.stack ?? String(err)}`);
  return EXIT_FAILURE;
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href || fileURLToPath(import.meta.url) === process.argv[1];
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await run();
}

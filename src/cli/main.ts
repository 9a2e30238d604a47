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
import { registerStatus } from './commands/status.js';
import { registerAgentActions } from './commands/agents.js';
import { registerLogs } from './commands/logs.js';
import { registerState } from './commands/state.js';
import { registerEvents } from './commands/events.js';
import { registerDeadLetters } from './commands/dead-letters.js';
import { registerProject } from './commands/project.js';
import { registerDaemon } from './commands/daemon.js';
import { registerSecrets } from './commands/secrets.js';
import { registerAudit } from './commands/audit.js';
import { registerKeys } from './commands/keys.js';
import { registerUsage } from './commands/usage.js';
import { registerToken } from './commands/token.js';
import { registerWorkflow } from './commands/workflow.js';
import { registerJobs } from './commands/jobs.js';
import { registerStream } from './commands/stream.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function buildProgram(ctx: CliContext): Command {
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

  registerProject(program, ctx);
  registerDaemon(program, ctx);
  registerStatus(program, ctx);
  registerAgentActions(program, ctx);
  registerLogs(program, ctx);
  registerState(program, ctx);
  registerEvents(program, ctx);
  registerDeadLetters(program, ctx);
  registerSecrets(program, ctx);
  registerAudit(program, ctx);
  registerKeys(program, ctx);
  registerUsage(program, ctx);
  registerToken(program, ctx);
  registerWorkflow(program, ctx);
  registerJobs(program, ctx);
  registerStream(program, ctx);
  return program;
}

/** Runs the CLI on `argv` (as process.argv: node, script, ...args) and returns the exit code. */
export async function run(
  argv: string[] = process.argv,
  io: CliIO = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) },
): Promise<number> {
  const ctx = new CliContext(io, process.env, process.cwd());
  const program = buildProgram(ctx);
  try {
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

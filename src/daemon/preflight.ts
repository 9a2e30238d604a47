// Everything the daemon checks before it creates anything on disk (issue 14 item 11): each module
// agent is loaded and described, then each daemon module checks its own section against the config
// and the agents (workflow steps naming agents, validator schema files, job queue handlers). Every
// problem found is thrown together as one ConfigError (exit 78), in the loader's format; only then
// does the daemon open the store, write the token, or start a log file.
import type { AgentConfig, ProjectConfig } from '../config/types.js';
import type { AgentDescription } from '../runtime/protocol.js';
import type { Runtime } from '../runtime/types.js';
import { IssueLocator, relativeIn } from '../config/locate.js';
import { ConfigError, type ConfigIssue } from '../util/errors.js';
import type { DaemonModule } from './modules.js';

/** At most this many agent modules are described at once (each boots a worker: ~150 ms, tens of MB). */
const DESCRIBE_CONCURRENCY = 4;

export async function preflight(config: ProjectConfig, runtime: Runtime, modules: readonly DaemonModule[]): Promise<Map<string, AgentDescription>> {
  const locate = new IssueLocator(config.file);
  const issues: ConfigIssue[] = [];
  const descriptions = await describeAgents(config, runtime, locate, issues);
  for (const m of modules) {
    if (!m.check) continue;
    try {
      issues.push(...(await m.check({ config, agents: descriptions, locate })));
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
  }
  if (issues.length > 0) {
    const at = (i: ConfigIssue) => (i.line ?? Infinity) * 10_000 + (i.column ?? 0);
    throw new ConfigError(issues.map((i) => ({ ...i, message: relativeIn(i.message, config.root) })).sort((a, b) => at(a) - at(b)));
  }
  return descriptions;
}

/**
 * Describes each distinct agent module once (1,000 agents sharing one file must not mean 1,000
 * workers), a few at a time; a module that fails to load is an issue at each of its agents' `source`.
 */
async function describeAgents(config: ProjectConfig, runtime: Runtime, locate: IssueLocator, issues: ConfigIssue[]): Promise<Map<string, AgentDescription>> {
  const descriptions = new Map<string, AgentDescription>();
  const byModule = new Map<string, AgentConfig[]>();
  for (const a of config.agents) {
    if (a.kind !== 'module') continue;
    const key = `${a.source}#${a.exportName ?? ''}`;
    byModule.set(key, [...(byModule.get(key) ?? []), a]);
  }
  const queue = [...byModule.values()];
  const describeOne = async (agents: AgentConfig[]): Promise<void> => {
    const first = agents[0]!;
    try {
      const desc = await runtime.describe(first.source!, first.exportName);
      for (const a of agents) descriptions.set(a.name, desc);
    } catch (err) {
      for (const a of agents) issues.push(locate.issue(['agents', a.name, 'source'], (err as Error).message));
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(DESCRIBE_CONCURRENCY, queue.length) }, async () => {
      for (let m = queue.shift(); m; m = queue.shift()) await describeOne(m);
    }),
  );
  return descriptions;
}

// `openclaw dev`: when an agent's source file changes, restart that agent alone; the others keep
// running. Changes are debounced, since editors write a file in several steps.
import fs from 'node:fs';
import path from 'node:path';
import type { ProjectConfig } from '../config/types.js';

export interface Reloadable {
  reloadAgent(name: string, reason: string): Promise<void>;
}

export function watchAgents(config: ProjectConfig, daemon: Reloadable, debounceMs = 150): () => void {
  const byFile = new Map<string, string[]>();
  for (const a of config.agents) {
    if (a.kind !== 'module' || !a.source) continue;
    const list = byFile.get(a.source) ?? [];
    list.push(a.name);
    byFile.set(a.source, list);
  }
  const timers = new Map<string, NodeJS.Timeout>();
  const watchers: fs.FSWatcher[] = [];
  // Watch directories, not files: editors replace files (rename), which ends a file watch.
  for (const dir of new Set([...byFile.keys()].map((f) => path.dirname(f)))) {
    try {
      const w = fs.watch(dir, (_event, name) => {
        if (!name) return;
        const file = path.join(dir, name.toString());
        const agents = byFile.get(file);
        if (!agents) return;
        clearTimeout(timers.get(file));
        timers.set(
          file,
          setTimeout(() => {
            timers.delete(file);
            for (const agent of agents) void daemon.reloadAgent(agent, `source changed: ${path.basename(file)}`).catch(() => undefined);
          }, debounceMs),
        );
      });
      watchers.push(w);
    } catch {
      // a directory that vanished: nothing to watch
    }
  }
  return () => {
    for (const w of watchers) w.close();
    for (const t of timers.values()) clearTimeout(t);
  };
}

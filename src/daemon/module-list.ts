// The daemon's subsystems, started in this order and stopped in reverse. One line each.
import type { DaemonModule } from './modules.js';
import { llmModule } from '../llm/module.js';

export function createModules(): DaemonModule[] {
  return [llmModule()];
}

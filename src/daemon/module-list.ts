// The daemon's subsystems, started in this order and stopped in reverse. One line each.
import type { DaemonModule } from './modules.js';
import { createJobsModule } from '../jobs/module.js';
import { workflowsModule } from '../workflows/module.js';

export function createModules(): DaemonModule[] {
  return [createJobsModule(), workflowsModule()];
}

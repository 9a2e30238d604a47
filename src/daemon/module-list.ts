// The daemon's subsystems, started in this order and stopped in reverse. One line each.
import type { DaemonModule } from './modules.js';
import { authModule } from '../security/auth/module.js';

export function createModules(): DaemonModule[] {
  return [
    authModule(), // API tokens and RBAC: first, so every later module's routes are behind it
  ];
}

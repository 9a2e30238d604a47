// Errors the CLI raises itself, before or without asking the daemon.
import { OpenClawError } from '../util/errors.js';

/** Bad flags, arguments, or CLI configuration (--url, OPENCLAW_URL, daemon.json): exit 2. */
export class UsageError extends OpenClawError {
  constructor(message: string) {
    super('usage', message, { status: 400, exitCode: 2 });
  }
}

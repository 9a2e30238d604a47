import { OpenClawError } from '../../util/errors.js';

/** No usable credentials: the API answers 401 with `WWW-Authenticate: Bearer`. */
export class UnauthorizedError extends OpenClawError {
  constructor(message: string) {
    super('unauthorized', message, { status: 401, exitCode: 1 });
  }
}

/** Authenticated, but not allowed to do this. */
export class ForbiddenError extends OpenClawError {
  constructor(message: string) {
    super('forbidden', message, { status: 403, exitCode: 1 });
  }
}

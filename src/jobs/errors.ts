// Thrown by a job handler to fail the job for good: no further attempts, straight to the dead-letter
// queue (bad input that no retry will fix).
import { OpenClawError } from '../util/errors.js';

export class UnrecoverableJobError extends OpenClawError {
  constructor(message: string) {
    super('job_unrecoverable', message, { status: 422 });
  }
}

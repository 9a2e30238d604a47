// Config values that a hand-written parser understands (durations, sizes, rates, aggregates):
// one zod transform that runs the parser and turns what it throws into a located config issue,
// so each schema says what to parse and never repeats the try/catch.
import { z } from 'zod';

/**
 * `input` transformed by `parse`; a thrown error becomes an issue at this value's path, its
 * message prefixed with `what` when given (e.g. 'backoff.delay: must be a duration…').
 */
export function parsedBy<I extends z.ZodTypeAny, O>(input: I, parse: (v: z.output<I>) => O, what?: string) {
  return input.transform((v: z.output<I>, ctx): O => {
    try {
      return parse(v);
    } catch (err) {
      const message = (err as Error).message;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: what ? `${what}: ${message}` : message });
      return z.NEVER;
    }
  });
}

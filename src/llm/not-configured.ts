// Without an llm: section the agent RPC ops answer llm_not_configured. Kept apart from module.ts so
// the daemon can give this answer without loading the router, the providers or the tokenizer.
import type { ModuleContext } from '../contracts/modules.js';
import { OpenClawError } from '../util/errors.js';

export const notConfigured = () => new OpenClawError('llm_not_configured', 'no LLM provider configured: add an llm: section with providers to openclaw.yaml (docs/configuration.md#llm)', { status: 503 });

export function refuseLlmOps(ctx: ModuleContext): void {
  const refuse = async () => {
    throw notConfigured();
  };
  for (const op of ['llm.complete', 'llm.stream', 'llm.stream.next', 'llm.stream.cancel']) ctx.rpc(op, refuse);
}

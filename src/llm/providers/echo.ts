// The built-in `echo` provider: answers every chat with the last user message, for trying `/v1` and
// agents' `this.llm` with no network and no account (`llm.providers.echo: {}`). Its model is `echo`
// unless the entry lists others; it costs $0 (the price table lists `echo` at 0), and token counts are
// our estimates. A JSON-mode request gets the message back as JSON when it parses as JSON, else
// `{"echo": "<message>"}`, so code that parses answers can run against it too.
import { estimateUsage } from '../tokens.js';
import type { ChatRequest, ChatResponse, Provider, ProviderCallOptions, StreamChunk } from '../types.js';

export const ECHO_MODEL = 'echo';

export class EchoProvider implements Provider {
  readonly kind = 'echo' as const;

  constructor(readonly name: string) {}

  private answer(req: ChatRequest): string {
    const last = [...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    if (!req.json) return last;
    try {
      JSON.parse(last);
      return last;
    } catch {
      return JSON.stringify({ echo: last });
    }
  }

  async complete(req: ChatRequest, opts: ProviderCallOptions = {}): Promise<ChatResponse> {
    opts.signal?.throwIfAborted();
    const text = this.answer(req);
    return { model: req.model, provider: this.name, text, toolCalls: [], finishReason: 'stop', usage: estimateUsage(req, text) };
  }

  /** The answer word by word (whitespace kept), then the finish chunk with the usage. */
  async *stream(req: ChatRequest, opts: ProviderCallOptions = {}): AsyncGenerator<StreamChunk> {
    const text = this.answer(req);
    for (const piece of text.match(/\S+\s*|\s+/g) ?? []) {
      opts.signal?.throwIfAborted();
      yield { type: 'text', text: piece };
    }
    yield { type: 'finish', finishReason: 'stop', usage: estimateUsage(req, text) };
  }

  async close(): Promise<void> {}
}

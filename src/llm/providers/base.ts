// What every adapter shares: the Adapter contract (pure transforms, no I/O, unit-testable on plain
// objects) and HttpProvider, which runs an adapter over the HTTP layer. Streaming rule: a failure
// before any text or tool-call chunk went out is an ordinary (retryable) error the router may fall
// back on; after that it is 'stream_interrupted' and the router must end the stream with an error.
import type { ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Provider, ProviderCallOptions, StreamChunk, Usage } from '../types.js';
import { HttpClient, NdjsonParser, SseParser, type SseEvent } from '../http.js';
import { errorFromException, ProviderError } from '../errors.js';
import { estimateUsage } from '../tokens.js';
import { defaultPrices, type PriceTable } from '../prices.js';
import type { ProviderConfig } from './config.js';

export interface WireRequest {
  /** Path under the provider's base URL. */
  path: string;
  body: Record<string, unknown>;
}

/** The stateful side of one stream: events in, normalised chunks out. */
export interface StreamParser {
  /** Chunks for one SSE event (or NDJSON line); throws a ProviderError for in-band errors. */
  fromStreamEvent(event: SseEvent | unknown): StreamChunk[];
  /** True once the terminator was seen ([DONE], message_stop, done: true). */
  readonly done: boolean;
  /** At a clean end of the body without a terminator: the finish chunk when a finish reason was seen, else null. */
  finishAtEnd(): StreamChunk | null;
}

export interface Adapter {
  readonly kind: Provider['kind'];
  readonly framing: 'sse' | 'ndjson';
  /** `model` is already the wire id. */
  toWire(req: ChatRequest, model: string, stream: boolean): WireRequest;
  /** A non-streaming response body → ChatResponse without provider (HttpProvider adds it). */
  fromWire(body: any, req: ChatRequest): Omit<ChatResponse, 'provider'>;
  streamParser(model: string, req: ChatRequest, provider: string): StreamParser;
  embeddingsToWire?(req: EmbeddingRequest, model: string): WireRequest;
  embeddingsFromWire?(body: any, model: string): Omit<EmbeddingResponse, 'provider'>;
}

export interface ProviderOptions {
  /** Prices (for wire ids and output caps); default: the shipped table. */
  prices?: PriceTable;
}

/** Extra headers an adapter needs (auth, versions). */
export type AuthHeaders = (cfg: ProviderConfig) => Record<string, string>;

export class HttpProvider implements Provider {
  readonly kind: Provider['kind'];
  readonly http: HttpClient;
  readonly prices: PriceTable;

  constructor(
    readonly name: string,
    private readonly adapter: Adapter,
    cfg: ProviderConfig,
    baseUrl: string,
    authHeaders: Record<string, string>,
    opts: ProviderOptions = {},
  ) {
    this.kind = adapter.kind;
    this.prices = opts.prices ?? defaultPrices;
    this.http = new HttpClient({ provider: name, baseUrl, headers: { ...authHeaders, ...cfg.headers }, timeouts: cfg.timeout });
  }

  /** The id sent on the wire for a configured model name. */
  wireModel(model: string): string {
    return this.prices.wireId(model);
  }

  async complete(req: ChatRequest, opts: ProviderCallOptions = {}): Promise<ChatResponse> {
    const model = this.wireModel(req.model);
    const wire = this.adapter.toWire(req, model, false);
    const res = await this.http.json('POST', wire.path, wire.body, { model, signal: opts.signal, timeoutMs: opts.timeoutMs });
    const out = this.adapter.fromWire(res.body, req);
    if (out.usage.inputTokens === 0 && out.usage.outputTokens === 0) out.usage = estimateUsage(req, out.text + out.toolCalls.map((t) => t.arguments).join(''));
    return { ...out, provider: this.name };
  }

  async *stream(req: ChatRequest, opts: ProviderCallOptions = {}): AsyncGenerator<StreamChunk> {
    const model = this.wireModel(req.model);
    const wire = this.adapter.toWire(req, model, true);
    const res = await this.http.stream(wire.path, wire.body, { model, signal: opts.signal, timeoutMs: opts.timeoutMs });
    const parser = this.adapter.streamParser(model, req, this.name);
    const framing = this.adapter.framing === 'sse' ? new SseParser() : new NdjsonParser();
    let delivered = false;
    let text = '';
    let finished = false;
    const emit = (c: StreamChunk): StreamChunk => {
      if (c.type === 'text') {
        text += c.text;
        if (c.text.length > 0) delivered = true;
      } else if (c.type === 'tool_call') {
        text += c.argumentsDelta;
        delivered = true;
      } else {
        finished = true;
        if (!c.usage || (c.usage.inputTokens === 0 && c.usage.outputTokens === 0)) c = { ...c, usage: estimateUsage(req, text) };
      }
      return c;
    };
    const it = res.chunks[Symbol.asyncIterator]();
    // Read the rest of the body after the terminator so the keep-alive connection goes back to the pool.
    const drain = async () => {
      try {
        while (!(await it.next()).done);
      } catch {
        // the answer is complete; a late transport error does not matter
      }
    };
    try {
      try {
        for (;;) {
          const next = await it.next();
          if (next.done) break;
          let events: unknown[];
          try {
            events = framing.push(next.value);
          } catch (err) {
            throw new ProviderError({ kind: 'server', provider: this.name, model, message: `${this.name} (${model}): malformed stream data: ${(err as Error).message}` });
          }
          for (const ev of events) {
            for (const c of parser.fromStreamEvent(ev)) {
              if (c.type === 'finish') await drain();
              yield emit(c);
            }
          }
          if (finished) break;
        }
        if (!finished) {
          for (const ev of framing.end()) for (const c of parser.fromStreamEvent(ev)) yield emit(c);
        }
        if (!finished) {
          const last = parser.finishAtEnd();
          if (last) yield emit(last);
        }
      } catch (err) {
        throw errorFromException(this.name, model, err, { delivered });
      }
      if (!finished) {
        throw new ProviderError({
          kind: delivered ? 'stream_interrupted' : 'connection',
          provider: this.name,
          model,
          message: `${this.name} (${model}): the stream ended without its terminator${delivered ? ' after output had started' : ''}`,
        });
      }
    } finally {
      res.close();
    }
  }

  async embed(req: EmbeddingRequest, opts: ProviderCallOptions = {}): Promise<EmbeddingResponse> {
    if (!this.adapter.embeddingsToWire || !this.adapter.embeddingsFromWire) {
      throw new ProviderError({ kind: 'bad_request', provider: this.name, model: req.model, message: `${this.name}: ${this.kind} providers have no embeddings endpoint; configure an OpenAI or Ollama embedding model` });
    }
    const model = this.wireModel(req.model);
    const wire = this.adapter.embeddingsToWire(req, model);
    const res = await this.http.json('POST', wire.path, wire.body, { model, signal: opts.signal, timeoutMs: opts.timeoutMs });
    return { ...this.adapter.embeddingsFromWire(res.body, model), provider: this.name };
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

export function zeroUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 };
}

/** Parse tool-call arguments for providers that want an object; invalid JSON is a bad request. */
export function parseArguments(provider: string, model: string, args: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    throw new ProviderError({ kind: 'bad_request', provider, model, message: `${provider} (${model}): tool call arguments are not valid JSON: ${args.slice(0, 120)}` });
  }
}

/** Does any message mention JSON (OpenAI's json_object mode requires it)? */
export function mentionsJson(req: ChatRequest): boolean {
  return req.messages.some((m) => /json/i.test(m.content));
}

export const JSON_INSTRUCTION = 'Respond with a single JSON object and nothing else.';

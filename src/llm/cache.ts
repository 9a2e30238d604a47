// The response cache, in the store. Exact: a SHA-256 of the normalised request (model, messages,
// sampling parameters, JSON mode, tools) with a TTL; only successful answers are stored. Semantic
// (off by default): the last user message is embedded with the configured model; a stored answer
// for the same model and the same context (system prompt and earlier turns) is reused when the
// cosine similarity reaches the threshold. A different question must not hit: keep the threshold
// high (0.95 by default) — tests include near misses.
import { createHash, randomUUID } from 'node:crypto';
import type { ChatRequest, ChatResponse } from './types.js';
import type { LlmConfig } from './config.js';
import type { Ledger } from './ledger.js';

export interface CacheHit {
  kind: 'exact' | 'semantic';
  response: ChatResponse;
  similarity?: number;
}

export type Embedder = (model: string, text: string) => Promise<number[]>;

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function normalise(req: ChatRequest, model: string): string {
  return JSON.stringify({
    model,
    messages: req.messages.map((m) => [m.role, m.content.trim(), m.name ?? null, m.toolCallId ?? null, m.toolCalls ?? null]),
    temperature: req.temperature ?? null,
    maxTokens: req.maxTokens ?? null,
    topP: req.topP ?? null,
    stop: req.stop ?? null,
    json: req.json === true,
    tools: req.tools ?? null,
    toolChoice: req.toolChoice ?? null,
  });
}

export function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export class ResponseCache {
  constructor(
    private readonly cfg: LlmConfig['cache'],
    private readonly ledger: Ledger,
    private readonly embed: Embedder | null,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.cfg.exact.enabled || (this.cfg.semantic.enabled && this.embed !== null);
  }

  /** Requests with tools are never answered from the semantic cache (the call is the answer). */
  private semanticKey(req: ChatRequest, model: string): { ctx: string; question: string } | null {
    if (!this.cfg.semantic.enabled || !this.embed || req.tools?.length) return null;
    const lastUser = req.messages.map((m) => m.role).lastIndexOf('user');
    if (lastUser < 0 || lastUser !== req.messages.length - 1) return null;
    const ctx = sha(JSON.stringify({ model, json: req.json === true, before: req.messages.slice(0, lastUser).map((m) => [m.role, m.content]) }));
    return { ctx, question: req.messages[lastUser]!.content };
  }

  async lookup(req: ChatRequest, model: string): Promise<CacheHit | null> {
    const now = this.now();
    if (this.cfg.exact.enabled) {
      const body = await this.ledger.cacheGet(sha(normalise(req, model)), now);
      if (body) return { kind: 'exact', response: JSON.parse(body) as ChatResponse };
    }
    const sk = this.semanticKey(req, model);
    if (sk) {
      const vector = await this.embed!(this.cfg.semantic.embedding_model!, sk.question);
      let best: { sim: number; body: string } | null = null;
      for (const c of await this.ledger.semanticCandidates(model, sk.ctx, now)) {
        const sim = cosine(vector, c.vector);
        if (sim >= this.cfg.semantic.threshold && (!best || sim > best.sim)) best = { sim, body: c.body };
      }
      this.pending.set(req, vector);
      if (best) return { kind: 'semantic', response: JSON.parse(best.body) as ChatResponse, similarity: best.sim };
    }
    return null;
  }

  /** The question vector computed by lookup(), reused by store() for the same request object. */
  private readonly pending = new WeakMap<ChatRequest, number[]>();

  async store(req: ChatRequest, model: string, res: ChatResponse): Promise<void> {
    const now = this.now();
    const body = JSON.stringify(res);
    if (this.cfg.exact.enabled) await this.ledger.cachePut(sha(normalise(req, model)), model, body, now, this.cfg.exact.ttl);
    const sk = this.semanticKey(req, model);
    if (sk) {
      const vector = this.pending.get(req) ?? (await this.embed!(this.cfg.semantic.embedding_model!, sk.question));
      await this.ledger.semanticPut(randomUUID(), model, sk.ctx, vector, sk.question, body, now, this.cfg.semantic.ttl);
    }
  }
}

// Fake LLM providers for tests and benches: real node:http servers on 127.0.0.1, real SSE and NDJSON.
//
//   import { startFakeOpenAI, startFakeAnthropic, startFakeOllama } from '../fakes/index.js';
//   const f = await startFakeOpenAI();            // or startFakeOpenAI({ apiKey: 'sk-test', models: [...] })
//   f.url        // http://127.0.0.1:PORT
//   f.baseUrl    // what goes in llm.providers.<name>.base_url: OpenAI url+'/v1'; Anthropic, Ollama: url
//   f.script([{ status: 429, retryAfter: 1 }, { reply: 'hi' }]);  // one step per chat request, in order
//   f.scriptEmbeddings([{ status: 500 }]);       // separate queue for embeddings requests
//   f.setDefault({ latencyMs: 5 });               // merged under every step (queued or not)
//   f.requests   // log: { method, path, headers, body, rawBody, at, connectionId, step }, newest last
//   f.chatRequests, f.connections, f.pending(), f.reset(), await f.waitForRequests(n), await f.close()
//
// Endpoints: OpenAI  POST /v1/chat/completions, POST /v1/embeddings, GET /v1/models (also without /v1)
//            Anthropic POST /v1/messages, GET /v1/models (auth header x-api-key)
//            Ollama  POST /api/chat (streams NDJSON unless "stream": false), POST /api/embed, GET /api/tags
//
// A step (all optional; see FakeStep in common.ts):
//   status, retryAfter (seconds or HTTP date), error {message,type,code}  — error answer in the dialect's shape
//   contextLength: true            — the dialect's context-length error (OpenAI code context_length_exceeded,
//                                    Anthropic "prompt is too long", Ollama "exceeds the context length")
//   reply 'text' | echo: true | json: {...} | toolCalls [{ name, arguments, id? }]
//   usage { input, output, cached } | noUsage: true   — defaults: counted deterministically from the request
//   latencyMs (before headers), firstTokenMs (stream: after headers, before the first chunk), chunkDelayMs
//   chunks ['Hel', 'lo']           — exact stream chunks (default: the reply split into words)
//   hang: true                     — never answer; hangAfterChunks: n — stream n chunks, then stall
//   disconnectAfterChunks: n       — stream n chunks, then destroy the socket (no [DONE], no clean end)
//   streamErrorAfterChunks: n      — stream n chunks, then an in-band error event (OpenAI data:{error},
//                                    Anthropic event: error, Ollama {"error"} line), then end
//   destroy: true                  — reset the connection as soon as the request arrives
//   keepAliveComments: true        — SSE comment lines before and between events
//   finishReason, model, headers
// Without a script: a deterministic reply "fake <provider> reply to: <last user message>" (in JSON mode:
// {"reply":"fake","echo":<last user message>}), streamed word by word, with usage. OpenAI streams
// report usage only when stream_options.include_usage is set, like the real API.
// Embeddings: fakeEmbedding(text) — a hashed bag of content words (stop words dropped, L2-normalised), so
// paraphrases score near 1 and "capital of France" vs "capital of Germany" score 0.5 (see cosine()).
export { startFakeOpenAI, openaiDialect } from './openai.js';
export { startFakeAnthropic, anthropicDialect } from './anthropic.js';
export { startFakeOllama, ollamaDialect } from './ollama.js';
export { fakeEmbedding, cosine, fakeTokens, splitChunks, EMBEDDING_DIM, type FakeStep, type FakeRequest, type FakeServer, type FakeOptions } from './common.js';

// Any OpenAI-compatible server (vLLM, OpenRouter-style services, llama.cpp, LM Studio, Ollama's /v1):
// the OpenAI adapter with max_tokens (what these servers accept) and an optional API key.
import { openaiAdapter } from './openai.js';

export const openaiCompatibleAdapter = openaiAdapter({ kind: 'openai-compatible', maxCompletionTokens: false });

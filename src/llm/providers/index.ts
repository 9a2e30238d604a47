// createProvider(name, cfg): the adapter for the entry's type over its own HTTP pool. api_key must
// already be expanded (the LLM module resolves ${secret:NAME} before calling this).
import { OpenClawError } from '../../util/errors.js';
import type { Provider } from '../types.js';
import { HttpProvider, type ProviderOptions } from './base.js';
import { DEFAULT_BASE_URLS, parseProviderConfig, providerTypeOf, type ProviderConfig, type ProviderConfigInput } from './config.js';
import { openaiAdapter } from './openai.js';
import { openaiCompatibleAdapter } from './openai-compatible.js';
import { anthropicAdapter, ANTHROPIC_VERSION } from './anthropic.js';
import { ollamaAdapter } from './ollama.js';
import { EchoProvider } from './echo.js';

export { HttpProvider, type Adapter, type StreamParser, type WireRequest, type ProviderOptions } from './base.js';
export * from './config.js';
export { openaiAdapter } from './openai.js';
export { openaiCompatibleAdapter } from './openai-compatible.js';
export { anthropicAdapter, ANTHROPIC_VERSION } from './anthropic.js';
export { ollamaAdapter } from './ollama.js';
export { EchoProvider, ECHO_MODEL } from './echo.js';

function unexpandedSecret(name: string, key: string | undefined): void {
  if (key !== undefined && /\$\{secret:[^}]*\}/.test(key)) {
    throw new OpenClawError(
      'llm_secret_unresolved',
      `llm.providers.${name}.api_key still holds a \${secret:...} reference; the LLM module resolves it at daemon start, so pass the resolved key to createProvider`,
      { status: 500 },
    );
  }
}

/**
 * A Provider for one `llm.providers` entry. `cfg` is a parsed entry (ProviderConfig, e.g. from
 * config.extensions.llm.providers) or raw YAML-shaped input, which is validated here.
 */
export function createProvider(name: string, cfg: ProviderConfig | ProviderConfigInput, opts: ProviderOptions = {}): Provider {
  const parsed: ProviderConfig = isParsed(cfg) ? cfg : parseProviderConfig(name, cfg);
  const type = providerTypeOf(name, parsed);
  if (!type) throw new OpenClawError('llm_provider_type', `llm.providers.${name}: set type to openai, anthropic, ollama, openai-compatible or echo`, { status: 400 });
  unexpandedSecret(name, parsed.api_key);
  const key = parsed.api_key && parsed.api_key.length > 0 ? parsed.api_key : undefined;
  switch (type) {
    case 'openai':
      return new HttpProvider(name, openaiAdapter(), parsed, parsed.base_url ?? DEFAULT_BASE_URLS.openai, key ? { authorization: `Bearer ${key}` } : {}, opts);
    case 'openai-compatible':
      if (!parsed.base_url) throw new OpenClawError('llm_provider_base_url', `llm.providers.${name}: openai-compatible providers need base_url, e.g. http://vllm:8000/v1`, { status: 400 });
      return new HttpProvider(name, openaiCompatibleAdapter, parsed, parsed.base_url, key ? { authorization: `Bearer ${key}` } : {}, opts);
    case 'anthropic':
      return new HttpProvider(name, anthropicAdapter, parsed, parsed.base_url ?? DEFAULT_BASE_URLS.anthropic, { ...(key ? { 'x-api-key': key } : {}), 'anthropic-version': ANTHROPIC_VERSION }, opts);
    case 'ollama':
      return new HttpProvider(name, ollamaAdapter, parsed, parsed.base_url ?? DEFAULT_BASE_URLS.ollama, key ? { authorization: `Bearer ${key}` } : {}, opts);
    case 'echo':
      return new EchoProvider(name);
  }
}

function isParsed(cfg: ProviderConfig | ProviderConfigInput): cfg is ProviderConfig {
  const t = (cfg as ProviderConfig).timeout;
  return typeof t === 'object' && t !== null && typeof (t as { totalMs?: unknown }).totalMs === 'number' && Array.isArray(cfg.models);
}

export type { Provider };

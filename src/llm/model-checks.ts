// Load-time checks of the models an `llm:` section names (issue 14 item 12, issue 15): every model
// in `defaults.primary`/`fallback`, `limits.upgrade_model` and `cache.semantic.embedding_model` must
// be served by a provider, and every model a provider declares or a default names must have a price
// (the shipped table, `llm.prices`, `llm.prices.MODEL: 0`, or a provider marked `local: true`).
// Found at load with file:line:col, not on the first request after the daemon is up.
import { PriceTable, type PriceOverrides } from './prices.js';
import type { ProviderConfig } from './providers/config.js';

/**
 * The provider entry that serves `model`, as the router resolves it: a provider's `models` list,
 * `<provider>/<model>`, or the only provider when there is one that declares no models.
 */
export function providerServing(providers: Record<string, Pick<ProviderConfig, 'models'>>, model: string): string | undefined {
  for (const [name, p] of Object.entries(providers)) if (p.models.includes(model)) return name;
  const slash = model.indexOf('/');
  if (slash > 0 && providers[model.slice(0, slash)]) return model.slice(0, slash);
  const names = Object.keys(providers);
  if (names.length === 1 && providers[names[0]!]!.models.length === 0) return names[0];
  return undefined;
}

/**
 * Whether a provider's unpriced models cost nothing: `local: true`, or an Ollama provider or the
 * built-in echo provider (it answers in-process) unless it says `local: false`.
 */
export function isLocalProvider(p: Pick<ProviderConfig, 'type'> & { local?: boolean }): boolean {
  return p.local ?? (p.type === 'ollama' || p.type === 'echo');
}

/**
 * llm.prices plus a zero price for every unpriced model a local provider declares, so the router's
 * cost accounting agrees with what the load-time check accepted.
 */
export function effectivePrices(llm: Pick<SectionView, 'providers' | 'prices'> & Partial<SectionView>): PriceOverrides {
  const table = new PriceTable(llm.prices ?? {});
  const out: PriceOverrides = { ...(llm.prices ?? {}) };
  const models = [...Object.values(llm.providers).flatMap((p) => p.models), ...(llm.defaults ? namedModels(llm as SectionView).map((n) => n.model) : [])];
  for (const m of models) {
    const name = providerServing(llm.providers, m);
    const p = name ? llm.providers[name]! : undefined;
    if (p && isLocalProvider(p) && !table.isPriced(m) && !out[m]) out[m] = { input: 0, output: 0, provider: p.type === 'ollama' ? 'ollama' : 'openai' };
  }
  return out;
}

function namedModels(llm: SectionView): Array<{ model: string; path: Array<string | number> }> {
  const named: Array<{ model: string; path: Array<string | number> }> = [];
  if (llm.defaults.primary) named.push({ model: llm.defaults.primary, path: ['defaults', 'primary'] });
  llm.defaults.fallback.forEach((m, i) => named.push({ model: m, path: ['defaults', 'fallback', i] }));
  if (llm.limits.upgrade_model) named.push({ model: llm.limits.upgrade_model, path: ['limits', 'upgrade_model'] });
  if (llm.cache.semantic.enabled && llm.cache.semantic.embedding_model) named.push({ model: llm.cache.semantic.embedding_model, path: ['cache', 'semantic', 'embedding_model'] });
  return named;
}

export interface ModelIssue {
  path: Array<string | number>;
  message: string;
}

interface SectionView {
  providers: Record<string, ProviderConfig & { local?: boolean }>;
  defaults: { primary?: string; fallback: string[] };
  limits: { upgrade_model?: string };
  cache: { semantic: { enabled: boolean; embedding_model?: string } };
  prices?: PriceOverrides;
}

export function checkModels(llm: SectionView): ModelIssue[] {
  const issues: ModelIssue[] = [];
  const providerNames = Object.keys(llm.providers);
  const declared = Object.values(llm.providers).flatMap((p) => p.models);
  const named = namedModels(llm);
  for (const n of named) {
    if (providerServing(llm.providers, n.model)) continue;
    issues.push({
      path: n.path,
      message:
        providerNames.length === 0
          ? `model '${n.model}' is not served by any provider: llm.providers is empty; add a provider whose models list includes it`
          : `model '${n.model}' is not served by any provider in llm.providers (declared: ${declared.join(', ') || 'none'}); add it to a provider's models list or write it as <provider>/<model> (providers: ${providerNames.join(', ')})`,
    });
  }

  const table = new PriceTable(effectivePrices(llm));
  const unpriced = (model: string, provider: string | undefined): string =>
    `model '${model}' has no price, so budgets and usage could not count it: add llm.prices.${JSON.stringify(model)}: { input: 0.5, output: 1.5 } (USD per million tokens), or llm.prices.${JSON.stringify(model)}: 0 for a free model${provider ? `, or local: true on provider '${provider}' when it runs locally` : ''}`;
  for (const [name, p] of Object.entries(llm.providers)) {
    p.models.forEach((m, i) => {
      if (!table.isPriced(m)) issues.push({ path: ['providers', name, 'models', i], message: unpriced(m, name) });
    });
  }
  for (const n of named) {
    const provider = providerServing(llm.providers, n.model);
    // A declared model was reported above at its models entry; report a named one only once.
    if (!provider || llm.providers[provider]!.models.includes(n.model)) continue;
    if (!table.isPriced(n.model)) issues.push({ path: n.path, message: unpriced(n.model, provider) });
  }
  return issues;
}

// SDK option objects are checked (issue 14 items 13 and 14): an unknown key names itself and the
// closest valid option; the Python-style names of seed 003's examples get their camelCase form.
import { describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/tools/http.js';
import { SlackNotifier } from '../../src/tools/slack.js';
import { PagerDutyClient } from '../../src/tools/pagerduty.js';
import { WebhookNotifier } from '../../src/tools/webhook.js';
import { LLMRouter } from '../../src/llm/sdk.js';
import { normalizeEnqueue } from '../../src/jobs/options.js';
import { checkHandlerOptions } from '../../src/jobs/config.js';
import { closestOption, UnknownOptionError } from '../../src/util/options.js';

const refuses = (make: () => unknown, message: RegExp) => {
  let err: unknown;
  try {
    make();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toMatch(message);
  return err;
};

describe('SDK options with a typo are refused with a did-you-mean', () => {
  it('HttpClient: the seed\'s retry_delay suggests retryDelay; a request option typo too', async () => {
    const err = refuses(() => new HttpClient({ retry_delay: 2 } as never), /^new HttpClient\(\): unknown option retry_delay; did you mean retryDelay\?$/);
    expect(err).toBeInstanceOf(UnknownOptionError);
    expect((err as UnknownOptionError).code).toBe('unknown_option');
    refuses(() => new HttpClient({ base_url: 'http://x' } as never), /unknown option base_url; did you mean baseUrl\?/);
    refuses(() => new HttpClient({ timout: 5 } as never), /unknown option timout; did you mean timeout\?/);
    const http = new HttpClient({ retries: 0 });
    await expect(http.get('http://127.0.0.1:9/', { header: { a: 'b' } } as never)).rejects.toThrow(/^HttpClient\.get\(\): unknown option header; did you mean headers\?$/);
    await http.close();
  });

  it('SlackNotifier, PagerDutyClient and WebhookNotifier: the seed\'s webhook_url and api_key', () => {
    refuses(() => new SlackNotifier({ webhook_url: 'https://hooks.slack.com/x' } as never), /^new SlackNotifier\(\): unknown option webhook_url; did you mean webhookUrl\?$/);
    refuses(() => new PagerDutyClient({ api_key: 'k' } as never), /^new PagerDutyClient\(\): unknown option api_key; did you mean apiKey\?$/);
    refuses(() => new PagerDutyClient({ routing_key: 'k' } as never), /did you mean routingKey\?/);
    refuses(() => new WebhookNotifier({ url: 'https://x', hmac_secret: 's' } as never), /^new WebhookNotifier\(\): unknown option hmac_secret; did you mean hmacSecret\?$/);
  });

  it('PagerDutyClient.triggerIncident: an unknown incident field', async () => {
    const pd = new PagerDutyClient({ routingKey: 'k', baseUrl: 'http://127.0.0.1:9' });
    await expect(pd.triggerIncident({ title: 't', dedup_key: 'x' } as never)).rejects.toThrow(/triggerIncident\(\): unknown option dedup_key; did you mean dedupKey\?/);
    await pd.close();
  });

  it('LLMRouter: options and budget', () => {
    refuses(() => new LLMRouter({ primary: 'gpt-4o', fallbacks: ['x'] } as never), /^new LLMRouter\(\): unknown option fallbacks; did you mean fallback\?$/);
    refuses(() => new LLMRouter({ primary: 'gpt-4o', budget: { daily_limit: 1 } } as never), /budget: unknown option daily_limit; did you mean daily_limit_usd\?/);
  });

  it('jobs: enqueue options and @job handler options', () => {
    expect(() => normalizeEnqueue({ name: 'q', payload: {}, opts: { max_attempts: 3 } }, 'this.jobs.enqueue')).toThrow(/this\.jobs\.enqueue: job\.opts: unknown option max_attempts; did you mean maxAttempts\?/);
    expect(() => normalizeEnqueue({ name: 'q', payload: {}, opts: { backoff: { type: 'fixed', dealy: 1 } } })).toThrow(/job\.opts\.backoff: unknown option dealy; did you mean delay\?/);
    expect(checkHandlerOptions({ concurency: 2 })).toEqual(['@job options: unknown option concurency; did you mean concurrency?']);
  });

  it('nothing close: lists the valid options instead of guessing', () => {
    refuses(() => new SlackNotifier({ webhookUrl: 'https://x', zzz: 1 } as never), /unknown option zzz; valid options: webhookUrl, http/);
    expect(closestOption('webhook_url', ['webhookUrl', 'http'])).toBe('webhookUrl');
  });
});

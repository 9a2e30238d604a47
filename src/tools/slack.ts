// SlackNotifier: posts to a Slack incoming webhook. The webhook answers 200 "ok", or a 4xx with a
// short reason ("invalid_payload", "no_service", "channel_is_archived") that we put in the error.
import { HttpClient } from './http.js';
import { NotifierError } from './errors.js';
import { checkOptions } from '../util/options.js';

const OPTIONS = Object.keys({ webhookUrl: 1, http: 1 } satisfies Record<keyof SlackNotifierOptions, 1>);

export interface SlackNotifierOptions {
  webhookUrl: string;
  /** Share a client (for its timeout/retries); default: 10 s timeout, 2 retries. */
  http?: HttpClient;
}

/** Anything Slack's webhook accepts besides `text`: blocks, attachments, thread_ts, … */
export type SlackMessage = { text: string; [field: string]: unknown };

export class SlackNotifier {
  private readonly webhookUrl: string;
  private readonly http: HttpClient;
  private readonly ownsHttp: boolean;

  constructor(opts: SlackNotifierOptions) {
    checkOptions('new SlackNotifier()', opts, OPTIONS);
    const url = opts?.webhookUrl;
    if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) {
      throw new TypeError(
        `SlackNotifier: webhookUrl must be an http(s) URL such as https://hooks.slack.com/services/…, got ${JSON.stringify(url)}` +
          ' (is the config value, e.g. slack_webhook: ${SLACK_WEBHOOK_URL}, set?)',
      );
    }
    this.webhookUrl = url;
    this.ownsHttp = !opts.http;
    this.http = opts.http ?? new HttpClient({ timeout: 10, retries: 2 });
  }

  /** Posts `{ text }` (or the full message object). Throws NotifierError with Slack's reply on non-2xx. */
  async send(message: string | SlackMessage): Promise<void> {
    const payload = typeof message === 'string' ? { text: message } : message;
    if (typeof payload?.text !== 'string') throw new TypeError('SlackNotifier.send(): give the message text, or an object with a text field');
    const res = await this.http.post(this.webhookUrl, payload);
    if (!res.ok) throw new NotifierError('Slack webhook', res.status, res.text());
  }

  async close(): Promise<void> {
    if (this.ownsHttp) await this.http.close();
  }
}

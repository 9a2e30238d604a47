// Content pipeline (seed 003 §13, example 4): RSS → LLM summary → CMS draft. Each article is
// published once: its id joins `processed_ids` in the same run that published it, and the run's
// state commits only when the run succeeds (a failed publish is retried on the next run).
import { Agent, Schedule } from 'openclaw-runtime';

export interface Article {
  id: string;
  title: string;
  link: string;
  content: string;
}

const tag = (xml: string, name: string) => {
  const m = new RegExp(`<${name}>(?:<!\\[CDATA\\[)?([\\s\\S]*?)(?:\\]\\]>)?</${name}>`).exec(xml);
  return m ? m[1]!.trim() : '';
};

/** The <item>s of an RSS 2.0 feed (guid, title, link, description); enough for well-formed feeds. */
export function parseRss(xml: string): Article[] {
  return [...xml.matchAll(/<item>([\s\S]*?)<\/item>/g)].map(([, item]) => ({
    id: tag(item!, 'guid') || tag(item!, 'link'),
    title: tag(item!, 'title'),
    link: tag(item!, 'link'),
    content: tag(item!, 'description'),
  }));
}

export default class ContentPipeline extends Agent {
  static schedule = Schedule.every({ minutes: 30 });

  override async run(): Promise<void> {
    const processed = new Set(await this.state.get<string[]>('processed_ids', []));
    const cms = this.config.get<string>('cms_api', '');
    const token = this.config.get<string>('cms_token', '');
    for (const feed of this.config.get<string[]>('rss_feeds', [])) {
      const res = await this.http.get(feed, { headers: { accept: 'application/rss+xml' } });
      for (const article of parseRss(res.text())) {
        if (processed.has(article.id)) continue;
        const summary = await this.llm.complete(
          `Write a 3-paragraph summary of this article for a tech audience. Title: ${article.title}\nContent: ${article.content.slice(0, 3000)}`,
        );
        await this.http.post(
          `${cms}/articles`,
          { title: article.title, summary: summary.text, source_url: article.link, category: 'auto-curated', status: 'draft' },
          { headers: { authorization: `Bearer ${token}` } },
        );
        processed.add(article.id);
        this.logger.info(`Published: ${article.title}`);
      }
    }
    await this.state.set('processed_ids', [...processed]);
  }
}

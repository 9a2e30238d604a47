// Fake pricing pages: acme raises "pro" from 49 to 59 (+20.4 %) after its page was read once;
// globex moves "team" by 2 % (below the threshold). The LLM summarises the alerts it is given.
import { serveFakes } from '../../_fakes/server.mjs';

let acmeReads = 0;
let globexReads = 0;

serveFakes({
  name: 'market',
  routes: {
    'GET /acme/pricing': () => ({ json: acmeReads++ === 0 ? { starter: 19, pro: 49 } : { starter: 19, pro: 59 } }),
    'GET /globex/pricing': () => ({ json: globexReads++ === 0 ? { team: 100 } : { team: 102 } }),
  },
  llm: (messages) => {
    const alerts = JSON.parse(/: (\[.*\])$/s.exec(messages.at(-1)?.content ?? '')?.[1] ?? '[]');
    return alerts.map((a) => `${a.competitor} moved ${a.product} from $${a.old_price} to $${a.new_price} (${a.change_pct > 0 ? '+' : ''}${a.change_pct}%).`).join(' ');
  },
});

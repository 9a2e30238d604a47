// The 'auth' daemon module: API tokens in the store, the authorize seam of the control API,
// command agents' scoped tokens, /api/tokens, and the bootstrap admin token.
import type { CheckContext, DaemonModule, ModuleContext } from '../../contracts/modules.js';
import { suggest } from '../../config/suggest.js';
import type { ConfigIssue } from '../../util/errors.js';
import { AgentTokens } from './agent-tokens.js';
import { securityConfig } from '../config.js';
import { createAuthorizer } from './authorizer.js';
import { publishRefusal } from './publish-policy.js';
import { resolveAuthMode } from './mode.js';
import { TokenRepository } from './repository.js';
import { tokenRoutes } from './routes.js';
import { writeTokenFile } from './token-file.js';

const LIVE = new Set(['initializing', 'running', 'paused']);

export function authModule(): DaemonModule {
  return {
    name: 'auth',
    check(ctx: CheckContext): ConfigIssue[] {
      const names = ctx.config.agents.map((a) => a.name);
      return Object.keys(securityConfig(ctx.config.extensions).events.emits)
        .filter((agent) => !names.includes(agent))
        .map((agent) => {
          const near = suggest(agent, names);
          return ctx.locate.issue(['security', 'events', 'emits', agent], `no agent '${agent}' is configured${near ? `; did you mean ${near}?` : ''} (each key names an agent whose owner team may publish the events listed)`);
        });
    },
    async start(ctx: ModuleContext) {
      const mode = resolveAuthMode(ctx.config, ctx.dev);
      const now = () => ctx.clock.now();
      const tokens = await TokenRepository.open(ctx.store, now);
      const agentTokens = new AgentTokens((agent, instanceId) => {
        const inst = ctx.agent(agent)?.instanceViews().find((i) => i.instanceId === instanceId);
        return inst !== undefined && LIVE.has(inst.status);
      });
      const audit = () => ctx.services.audit;
      const ownerOf = (agent: string) => {
        const c = ctx.agent(agent);
        return c === undefined ? undefined : c.cfg.owner;
      };
      const events = securityConfig(ctx.config.extensions).events;
      const authz = createAuthorizer({ mode, tokens, agentTokens, now, audit, ownerOf, publishRefusal: (team, event) => publishRefusal(events, team, event, ownerOf) });
      ctx.services.auth = {
        mode,
        authorize: authz.authorize,
        onResponse: authz.onResponse,
        agentToken: (agent, instanceId) => agentTokens.mint(agent, instanceId),
      };
      ctx.routes((app) => tokenRoutes(app, { tokens, now, audit }));
      if (mode === 'token') await bootstrap(ctx, tokens);
    },
  };
}

/** First start with token auth: an admin token in <dataDir>/token (0600), so the local CLI works. */
async function bootstrap(ctx: ModuleContext, tokens: TokenRepository): Promise<void> {
  if (await tokens.hasActiveAdmin()) return;
  const { token, record } = await tokens.create({ name: 'bootstrap-admin', role: 'admin', team: null, expiresAt: null, createdBy: 'daemon' });
  const file = writeTokenFile(ctx.dataDir, token);
  ctx.services.audit.record({ actor: 'daemon', action: 'token.create', target: `token:${record.id}`, detail: { role: 'admin', bootstrap: true } });
  ctx.log('info', `no admin API token existed: created token ${record.id} (role admin) and wrote it to ${file} (mode 0600); the CLI in this project uses it from there`);
}

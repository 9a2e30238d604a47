// Which authentication the control API uses, and the bind rule: local-trust (loopback callers need
// no token) is only safe on a loopback address, so the daemon refuses anything else with exit 78.
import ipaddr from 'ipaddr.js';
import type { ProjectConfig } from '../../config/types.js';
import { ConfigError } from '../../util/errors.js';

export type AuthMode = 'token' | 'local-trust';

/** `api.auth` when set; otherwise `local-trust` for `openclaw dev` and `token` for everything else. */
export function resolveAuthMode(config: ProjectConfig, dev: boolean): AuthMode {
  return config.api.auth ?? (dev ? 'local-trust' : 'token');
}

/** A peer address (`127.0.0.1`, `::1`, `::ffff:127.0.0.1`) on the loopback network. */
export function isLoopbackAddress(addr: string | undefined): boolean {
  if (!addr) return false;
  try {
    let ip = ipaddr.parse(addr);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
    return ip.range() === 'loopback';
  } catch {
    return false;
  }
}

/** A bind address that only loopback callers can reach. Host names other than localhost count as public. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || isLoopbackAddress(h);
}

/**
 * Refuses to serve a non-loopback address without token auth. `authInstalled` is false when no
 * auth module runs (tests with `modules: []`): then nothing checks requests at all.
 */
export function checkBind(config: ProjectConfig, mode: AuthMode, authInstalled = true): void {
  const host = config.api.host;
  if (isLoopbackHost(host)) return;
  if (mode === 'token' && authInstalled) return;
  const why = authInstalled
    ? `api.auth is local-trust${config.api.auth === undefined ? ' (the default for `openclaw dev`)' : ''}, which lets callers in without a token`
    : 'no authentication module is running';
  throw new ConfigError([
    {
      file: config.file,
      line: null,
      column: null,
      field: 'api.host',
      message:
        `refusing to serve the control API on ${host}, a non-loopback address: ${why}. ` +
        'Set `api.auth: token` in openclaw.yaml (the default outside `openclaw dev`), start the daemon with `openclaw daemon run` or `openclaw daemon start`, ' +
        'and use the admin token it writes to .openclaw/token (or create one with `openclaw token create --role admin`); ' +
        'or keep the API on 127.0.0.1',
    },
  ]);
}

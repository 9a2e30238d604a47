// The control API as the daemon sees it: build a server over a ControlPlane, listen, close.
export { createApiServer, type ApiServer, type ApiServerOptions } from './server.js';
export { allowAll, type Authorize, type Permission } from './route.js';
export type { ErrorBody } from './errors.js';

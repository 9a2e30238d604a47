// Layering of src/ (issue 9): `npm run lint:deps`, part of `npm test`, so CI enforces it.
//
// Floors, top to bottom: daemon/, api/ and cli/ (the top floors; they may use each other and
// everything below) → subsystems (jobs/, workflows/, llm/, security/, scheduler/, supervisor/,
// runtime/, bus/, store/, …) → contracts/ (Store, Clock, the daemon-module interface, the control
// plane) and util/. A subsystem talks to the daemon through src/contracts, never src/daemon.
//
// Subsystems declare their HTTP routes with src/contracts/route.ts and params.ts (defineRoute,
// permissions, query parsing). Known exception, listed: api/types.ts, the API's wire types (the
// token repository returns TokenInfo).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'No import cycles (type-only imports included).', from: {}, to: { circular: true } },
    {
      name: 'no-daemon-from-below',
      severity: 'error',
      comment: 'Only the top floors (daemon/, api/, cli/) import src/daemon; subsystems use src/contracts.',
      from: { path: '^src/', pathNot: '^src/(daemon|api|cli)/|^src/index\\.ts$' },
      to: { path: '^src/daemon/' },
    },
    {
      name: 'no-cli-from-below',
      severity: 'error',
      comment: 'The CLI is a top floor.',
      from: { path: '^src/', pathNot: '^src/(daemon|api|cli)/|^src/index\\.ts$' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-api-from-below',
      severity: 'error',
      comment: 'The API server is a top floor; only its wire types are shared (see the header).',
      from: { path: '^src/', pathNot: '^src/(daemon|api|cli)/|^src/index\\.ts$' },
      to: { path: '^src/api/', pathNot: '^src/api/types\\.ts$' },
    },
    {
      name: 'contracts-stay-low',
      severity: 'error',
      comment: 'src/contracts is the bottom floor: it imports no top floor.',
      from: { path: '^src/contracts/' },
      to: { path: '^src/(daemon|cli|api)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};

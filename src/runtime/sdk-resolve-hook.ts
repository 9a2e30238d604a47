// module.register() resolve hook, installed in every agent worker: `import … from 'openclaw-runtime'` and
// `'openclaw-runtime/tools'` in agent code resolve to the daemon's own SDK, whether or not the user's
// project has node_modules. One SDK per daemon also means `instanceof Agent` holds across the boundary.
// The package was first called `openclaw` (a name npm gives to an unrelated product); agents written
// against that specifier keep working, since the mapping costs one more key.
//
// The mapped URL is handed to the next hook (not short-circuited) so that tsx, registered before,
// still loads the SDK's .ts files when the daemon runs from source.
export interface SdkResolveData {
  index: string;
  tools: string;
}

type NextResolve = (specifier: string, context: unknown) => Promise<{ url: string; format?: string | null } & Record<string, unknown>>;

let targets: Record<string, string> = {};

export async function initialize(data: SdkResolveData): Promise<void> {
  targets = {
    'openclaw-runtime': data.index,
    'openclaw-runtime/tools': data.tools,
    openclaw: data.index,
    'openclaw/tools': data.tools,
  };
}

export async function resolve(specifier: string, context: unknown, next: NextResolve): Promise<unknown> {
  const target = targets[specifier];
  const resolved = await next(target ?? specifier, context);
  // Agents are ES modules (they `import … from 'openclaw-runtime'`). A .ts file in a project without
  // `"type": "module"` would otherwise be taken for CommonJS and fail to load.
  if (resolved.format === 'commonjs' && /\.(ts|tsx|mts)$/.test(new URL(resolved.url).pathname) && !resolved.url.includes('/node_modules/')) {
    return { ...resolved, format: 'module' };
  }
  return resolved;
}

// Module hook for tests that check what a process loads: reports each file: URL it resolves on stderr.
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.startsWith('file:')) process.stderr.write(`loaded-module ${r.url}\n`);
  return r;
}

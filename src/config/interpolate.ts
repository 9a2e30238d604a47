// `${VAR}` and `${VAR:-default}` in string values, resolved from the environment before the
// schema runs. `${secret:NAME}` is left as written (the secrets store resolves it at run time, so
// a secret never lands in the parsed config). `${{ … }}` (workflow templates) is left as written too.
// `$${` writes a literal `${`.

export interface InterpolationResult {
  value: string;
  changed: boolean;
  /** One message per problem; the caller adds file, line and field. */
  errors: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function interpolate(input: string, env: NodeJS.ProcessEnv): InterpolationResult {
  if (!input.includes('$')) return { value: input, changed: false, errors: [] };
  let out = '';
  const errors: string[] = [];
  let changed = false;
  let i = 0;
  while (i < input.length) {
    if (input.startsWith('$${', i)) {
      out += '${';
      i += 3;
      changed = true;
      continue;
    }
    if (!input.startsWith('${', i)) {
      out += input[i++];
      continue;
    }
    // `${{ expr }}` is a workflow template (src/workflows/expr.ts), evaluated per run: kept as written.
    if (input.startsWith('${{', i)) {
      const end = input.indexOf('}}', i + 3);
      const stop = end < 0 ? input.length : end + 2;
      out += input.slice(i, stop);
      i = stop;
      continue;
    }
    const close = input.indexOf('}', i + 2);
    if (close < 0) {
      errors.push(`unclosed \`\${\` in ${JSON.stringify(input)}; write \${NAME} or \${NAME:-default}, or $\${ for a literal \${`);
      out += input.slice(i);
      break;
    }
    const inner = input.slice(i + 2, close);
    i = close + 1;
    if (inner.startsWith('secret:')) {
      out += `\${${inner}}`;
      continue;
    }
    const sep = inner.indexOf(':-');
    const name = sep >= 0 ? inner.slice(0, sep) : inner;
    const def = sep >= 0 ? inner.slice(sep + 2) : undefined;
    if (!NAME.test(name)) {
      errors.push(
        `\`\${${inner}}\` is not a valid reference; write \${NAME}, \${NAME:-default} or \${secret:NAME}, or $\${ for a literal \${`,
      );
      out += `\${${inner}}`;
      continue;
    }
    const val = env[name];
    changed = true;
    // Shell semantics: `:-` also replaces a variable that is set but empty.
    if (val !== undefined && !(def !== undefined && val === '')) out += val;
    else if (def !== undefined) out += def;
    else {
      errors.push(
        `environment variable ${name} is not set; export it (export ${name}=…) or give a default with \${${name}:-value}`,
      );
      out += `\${${inner}}`;
    }
  }
  return { value: out, changed, errors };
}

/**
 * Interpolation yields text; for an unquoted YAML scalar (`port: ${PORT:-8400}`) resolve it the
 * way YAML would have resolved that text, so numbers and booleans keep their types. Quoted scalars
 * stay strings.
 */
export function resolvePlainScalar(text: string): string | number | boolean {
  if (/^[-+]?\d+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  return text;
}

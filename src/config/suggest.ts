// "Did you mean …?" for unknown keys, enum values and time zones.

/** Optimal-string-alignment distance (Damerau-Levenshtein with adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  if (m === 0) return n;
  if (n === 0) return m;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => {
    const row = new Array<number>(n + 1).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j <= n; j++) d[0][j] = j;
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[m][n];
}

/**
 * The closest candidate, or null when none is close enough to be a plausible typo. Case and
 * `-`/`_` differences count as near-equal (`restart-policy` → `restart_policy`), and a prefix of
 * at least 3 characters suggests its completion (`expo` → `exponential`).
 */
export function suggest(input: string, candidates: readonly string[]): string | null {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, '_');
  const ni = norm(input);
  let best: string | null = null;
  let bestScore = Infinity;
  for (const c of candidates) {
    const nc = norm(c);
    let score: number;
    if (nc === ni) score = 0;
    else if (ni.length >= 3 && nc.startsWith(ni)) score = 0.5;
    else {
      const dist = editDistance(ni, nc);
      // Allow roughly one edit per three characters, at least one, at most three.
      const limit = Math.min(3, Math.max(1, Math.floor(Math.max(ni.length, nc.length) / 3)));
      if (dist > limit) continue;
      score = dist;
    }
    if (score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

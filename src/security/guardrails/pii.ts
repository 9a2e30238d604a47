// PII detection for the pii_filter validator: e-mail addresses, phone numbers, US social security
// numbers and payment card numbers (13–19 digits that pass the Luhn check, so order numbers and
// other long digit runs are left alone).
import type { PiiKind } from './config.js';

/** The Luhn (mod 10) check of payment card numbers. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

const DETECTORS: Record<PiiKind, { re: RegExp; accept?: (match: string) => boolean }> = {
  // Cards first: their digit groups must not be taken for phone numbers.
  credit_card: {
    re: /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g,
    accept: (m) => {
      const digits = m.replace(/[ -]/g, '');
      return digits.length >= 13 && digits.length <= 19 && luhnValid(digits);
    },
  },
  // 123-45-6789; area 000, 666 and 9xx, group 00 and serial 0000 are never issued.
  ssn: { re: /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/g },
  // Separated groups: +1 555 123 4567, (555) 123-4567, 555.123.4567, +44 20 7946 0958.
  // Not part of a longer run of digit groups (a card number that failed the Luhn check).
  phone: { re: /(?<![\w+]|\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{4}(?![ .-]?\d)/g },
  email: { re: /(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w])/g },
};

export const DETECTION_ORDER: readonly PiiKind[] = ['credit_card', 'ssn', 'phone', 'email'];

export interface PiiFinding {
  kind: PiiKind;
  /** Where in the event data: `data.user.email`, `data.items[2]`. */
  path: string;
}

function scanString(text: string, kinds: readonly PiiKind[], redact: boolean, found: (kind: PiiKind) => void): string {
  let out = text;
  for (const kind of DETECTION_ORDER) {
    if (!kinds.includes(kind)) continue;
    const { re, accept } = DETECTORS[kind];
    out = out.replace(re, (m) => {
      if (accept && !accept(m)) return m;
      found(kind);
      return redact ? `[REDACTED:${kind}]` : m;
    });
  }
  return out;
}

/**
 * Walks a JSON value: returns the findings and, with `redact`, a copy with every match replaced by
 * `[REDACTED:kind]` (the input itself when nothing matched). Object keys are scanned as well as values.
 */
export function scanPii(value: unknown, kinds: readonly PiiKind[], redact: boolean, base = 'data'): { findings: PiiFinding[]; value: unknown } {
  const findings: PiiFinding[] = [];
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      let hit = false;
      const out = scanString(v, kinds, redact, (kind) => {
        hit = true;
        findings.push({ kind, path });
      });
      return hit ? out : v;
    }
    if (Array.isArray(v)) {
      let changed = false;
      const arr = v.map((x, i) => {
        const y = walk(x, `${path}[${i}]`);
        if (y !== x) changed = true;
        return y;
      });
      return changed ? arr : v;
    }
    if (v !== null && typeof v === 'object') {
      let changed = false;
      const obj: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const key = walk(k, `${path} (key '${k.length > 20 ? `${k.slice(0, 20)}…` : k}')`) as string;
        const y = walk(x, /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`);
        if (key !== k || y !== x) changed = true;
        obj[key] = y;
      }
      return changed ? obj : v;
    }
    return v;
  };
  const out = walk(value, base);
  return { findings, value: redact ? out : value };
}

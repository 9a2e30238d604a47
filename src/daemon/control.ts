// The control-plane contract lives in src/contracts/control.ts; re-exported for existing imports.
export * from '../contracts/control.js';

// The daemon-module contract lives in src/contracts/modules.ts; re-exported for existing imports.
export * from '../contracts/modules.js';

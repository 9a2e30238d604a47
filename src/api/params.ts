// Query-parameter helpers live in src/contracts/params.ts.
export * from '../contracts/params.js';

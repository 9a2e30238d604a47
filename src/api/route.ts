// The route-declaration helpers live in src/contracts/route.ts (subsystems declare routes with them).
export * from '../contracts/route.js';

// The store contract: the Store interface, its records and the extension points subsystems use
// (StoreModule, TxEffect, StoreHandle), all exported by src/store/types.ts. Re-exported here rather
// than moved while the event/commit half of issue 9 reshapes src/store/types.ts on its own branch;
// new code imports the contract from here.
export * from '../store/types.js';

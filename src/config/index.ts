export { loadConfig, parseConfig, formatPath, AGENT_NAME, CONFIG_FILENAMES, type LoadOptions } from './load.js';
export {
  parseDuration,
  parseSize,
  parseSchedule,
  parseEvery,
  parseDailyTime,
  validateCron,
  validateTimeZone,
  formatDuration,
  formatSize,
  splitCommandLine,
} from './units.js';
export { interpolate } from './interpolate.js';
export { suggest, editDistance } from './suggest.js';
export type * from './types.js';

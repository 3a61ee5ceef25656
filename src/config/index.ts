export { configSchema, accessRuleSchema, type BerthConfig } from './schema.ts';
export { loadConfig, ConfigError, leafPaths, unwrap, type LoadedConfig, type LoadOptions } from './load.ts';
export { parseDuration } from './duration.ts';
export { renderConfigurationReference } from './reference.ts';

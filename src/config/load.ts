import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type BerthConfig } from './schema.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadedConfig {
  config: BerthConfig;
  /** Keys understood but not acted on (from distribution files); shown at start and by `config check`. */
  warnings: string[];
  source: string;
}

export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Command-line flags, applied last. */
  overrides?: { listen?: string | undefined; data?: string | undefined };
}

/**
 * distribution keys Berth does not act on yet. Refused where ignoring them would change
 * what is stored or who may access it; otherwise reported and ignored.
 */
const refusedKeys: Record<string, string> = {
  'auth.silly': 'the silly authenticator is not implemented (it is for development only); refusing to start an open registry',
  proxy: 'pull-through cache is not implemented yet',
  middleware: 'storage and registry middleware are not supported',
  'http.prefix': 'a URL prefix is not supported; put a reverse proxy in front instead',
  'http.tls.clientcas': 'client certificate authentication is not implemented yet',
  'http.tls.letsencrypt': 'Let’s Encrypt is not supported; give a certificate and key',
  'storage.maintenance.readonly': 'read-only mode is not implemented yet',
  'storage.s3': 'the S3 storage driver is not implemented yet',
  'storage.oss': 'the OSS storage driver is not implemented yet',
  'storage.azure': 'the Azure storage driver is not supported',
  'storage.gcs': 'the GCS storage driver is not supported',
  'storage.swift': 'the Swift storage driver is not supported',
  'storage.inmemory': 'the in-memory storage driver is for tests only',
};

const ignoredKeys: Record<string, string> = {
  loglevel: 'deprecated; use log.level',
  'log.formatter': 'Berth always logs JSON',
  'log.fields': 'not supported',
  'log.hooks': 'not supported',
  'http.secret': 'not needed: upload state lives in the database',
  'http.debug': 'metrics and debug listener not implemented yet',
  'http.net': 'Berth listens on TCP',
  'http.relativeurls': 'Berth always answers relative URLs unless http.host is set',
  'http.http2': 'not supported',
  'http.tls.minimumtls': 'Berth always requires TLS 1.2 or newer',
  'http.tls.ciphersuites': 'Node’s default cipher suites are used',
  'storage.cache': 'Berth caches manifests in process (cache.manifestbytes)',
  'storage.redirect': 'blob redirects are not implemented yet',
  'storage.tag': 'not supported',
  notifications: 'webhooks are not implemented yet',
  redis: 'Redis is not used yet',
  health: 'health checks of storage are not configurable',
  reporting: 'not supported',
  compatibility: 'schema 1 manifests are never accepted',
  'validation.enabled': 'validation is always on',
  'validation.disabled': 'validation is always on',
  'validation.manifests.indexes': 'index platform validation is not supported',
  catalog: 'use limits.pagesize',
};

/** Environment variables with the BERTH_ prefix that are not configuration keys. */
const reservedEnvironment = new Set(['BERTH_REQUIRE_SERVICES', 'BERTH_CONFIG']);

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const source = options.file ?? '(defaults)';
  let raw: unknown = {};
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (error) {
      throw new ConfigError(source, [`cannot read the file: ${(error as Error).message}`]);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (error) {
      throw new ConfigError(source, [`not valid YAML: ${(error as Error).message}`]);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(source, ['the top level must be a mapping of keys']);
  }
  const document = structuredClone(raw) as Record<string, unknown>;
  const warnings: string[] = [];
  const problems: string[] = [];

  applyEnvironment(document, env, warnings, problems);
  if (options.overrides?.listen) setPath(document, ['http', 'addr'], options.overrides.listen);
  if (options.overrides?.data) setPath(document, ['storage', 'filesystem', 'rootdirectory'], options.overrides.data);

  for (const [key, reason] of Object.entries(refusedKeys)) {
    if (hasPath(document, key.split('.'))) problems.push(`${key}: ${reason}`);
  }
  for (const [key, reason] of Object.entries(ignoredKeys)) {
    if (hasPath(document, key.split('.'))) {
      warnings.push(`${key} is ignored: ${reason}`);
      deletePath(document, key.split('.'));
    }
  }
  for (const key of Object.keys(refusedKeys)) deletePath(document, key.split('.'));
  if (problems.length > 0) throw new ConfigError(source, problems);

  const parsed = configSchema.safeParse(document);
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.map(describeIssue));
  const config = parsed.data;
  config.storage.filesystem.rootdirectory = path.resolve(config.storage.filesystem.rootdirectory);
  for (const pattern of [...config.validation.manifests.urls.allow, ...config.validation.manifests.urls.deny]) {
    try {
      new RegExp(pattern);
    } catch (error) {
      throw new ConfigError(source, [`validation.manifests.urls: ${JSON.stringify(pattern)} is not a regular expression: ${(error as Error).message}`]);
    }
  }
  const users = config.auth?.users?.enabled === true;
  if (config.auth?.token && (config.auth.htpasswd || config.auth.ldap || users || config.auth.tokenservice?.enabled)) {
    throw new ConfigError(source, ['auth.token: an external token issuer cannot be combined with auth.htpasswd, auth.ldap, auth.users or auth.tokenservice; choose one']);
  }
  if (!config.auth?.htpasswd && !config.auth?.ldap && !users && !config.auth?.token && (config.access.rules !== undefined || config.access.personalnamespace)) {
    throw new ConfigError(source, ['access: access rules need an authenticator; configure auth.htpasswd, auth.ldap or auth.users']);
  }
  if (!config.auth?.htpasswd && !config.auth?.ldap && !users && config.auth?.tokenservice?.enabled) {
    throw new ConfigError(source, ['auth.tokenservice: the token service needs an authenticator for users to log in with; configure auth.htpasswd, auth.ldap or auth.users']);
  }
  return { config, warnings, source };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.join('.') || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${[...issue.path, k].join('.')}: unknown key`).join('; ');
  }
  return `${key}: ${issue.message}`;
}

/**
 * `BERTH_STORAGE_DELETE_ENABLED=true` sets storage.delete.enabled; distribution's
 * `REGISTRY_…` names work too. Values are read as YAML scalars.
 */
function applyEnvironment(document: Record<string, unknown>, env: NodeJS.ProcessEnv, warnings: string[], problems: string[]): void {
  const known = new Map(leafPaths(configSchema).map((p) => [p.join('_').toUpperCase(), p]));
  const entries = Object.entries(env).filter(([name]) => name.startsWith('BERTH_') || name.startsWith('REGISTRY_'));
  for (const [name, value] of entries.sort(([a], [b]) => (a.startsWith('REGISTRY_') ? -1 : b.startsWith('REGISTRY_') ? 1 : 0))) {
    if (value === undefined || reservedEnvironment.has(name)) continue;
    const suffix = name.slice(name.indexOf('_') + 1);
    const keyPath = known.get(suffix) ?? suffix.toLowerCase().split('_');
    if (!known.has(suffix) && !isListedKey(keyPath)) {
      if (name.startsWith('BERTH_')) warnings.push(`environment variable ${name} matches no configuration key and is ignored`);
      continue;
    }
    let parsedValue: unknown;
    try {
      parsedValue = parseYaml(value);
    } catch {
      problems.push(`${name}: cannot read the value as YAML`);
      continue;
    }
    setPath(document, keyPath, parsedValue ?? value);
  }
}

function isListedKey(keyPath: string[]): boolean {
  const dotted = keyPath.join('.');
  return [...Object.keys(refusedKeys), ...Object.keys(ignoredKeys)].some((key) => dotted === key || dotted.startsWith(`${key}.`));
}

/** Every leaf key path of the schema (objects descended into; arrays and records are leaves). */
export function leafPaths(schema: z.ZodType, prefix: string[] = []): string[][] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
  }
  return [prefix];
}

export function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (;;) {
    const def = (current as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } }).def;
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return current;
  }
}

function hasPath(document: Record<string, unknown>, keyPath: string[]): boolean {
  let current: unknown = document;
  for (const key of keyPath) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return false;
    current = (current as Record<string, unknown>)[key];
  }
  return true;
}

function setPath(document: Record<string, unknown>, keyPath: string[], value: unknown): void {
  let current = document;
  for (const key of keyPath.slice(0, -1)) {
    const next = current[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
  current[keyPath[keyPath.length - 1]!] = value;
}

function deletePath(document: Record<string, unknown>, keyPath: string[]): void {
  let current: unknown = document;
  for (const key of keyPath.slice(0, -1)) {
    if (typeof current !== 'object' || current === null) return;
    current = (current as Record<string, unknown>)[key];
  }
  if (typeof current === 'object' && current !== null) delete (current as Record<string, unknown>)[keyPath[keyPath.length - 1]!];
}

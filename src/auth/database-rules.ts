import { accessRuleSchema } from '../config/schema.ts';
import type { AuthLog } from './htpasswd.ts';
import { DEFAULT_RULES, RuleAccessPolicy, type AccessRule } from './rules.ts';
import type { AccessPolicy, Action, Identity } from './types.ts';

/**
 * Access rules from the config file and from the database (`berth access add`), both applying:
 * an identity has the union of what the rules of either give. The database rules are read
 * through a short-lived cache (one query over the small `access_rules` table at most every
 * `ttlMs`), so a rule added or removed takes effect within that time, without a restart.
 * The default rule (every authenticated user may pull and push) applies only when there are
 * no rules at all: once any rule exists, in the config file or the database, only rules apply.
 */

/** A stored rule as the policy reads it; the lists are unchecked JSON. */
export interface StoredAccessRule {
  readonly id: number;
  readonly repositories: unknown;
  readonly subjects: unknown;
  readonly actions: unknown;
  readonly from?: unknown;
}

/** What the policy needs from the metadata store (`MetadataStore` has it). */
export interface AccessRuleStore {
  listAccessRules(): Promise<readonly StoredAccessRule[]>;
}

/** How long the database rules are used before they are read again. */
export const DATABASE_RULES_TTL_MS = 2000;

/**
 * A rule checked with the schema of `access.rules`: the rule, or the problems (each naming
 * its field, e.g. `subjects.0: must be user:NAME, …`).
 */
export function validateAccessRule(input: unknown): { rule: AccessRule } | { problems: string[] } {
  const parsed = accessRuleSchema.safeParse(input);
  if (parsed.success) return { rule: parsed.data };
  return { problems: parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'rule'}: ${issue.message}`) };
}

export interface DatabaseRulesOptions {
  /** Rules from the config file (`access.rules`); undefined: not given (an empty list is given: it grants nothing). */
  configRules: readonly AccessRule[] | undefined;
  store: AccessRuleStore;
  personalNamespace?: boolean;
  ttlMs?: number;
  log?: AuthLog | undefined;
  now?: () => number;
}

export class DatabaseRulesPolicy implements AccessPolicy {
  readonly #configRules: readonly AccessRule[] | undefined;
  readonly #store: AccessRuleStore;
  readonly #personalNamespace: boolean;
  readonly #ttlMs: number;
  readonly #log: AuthLog | undefined;
  readonly #now: () => number;
  #policy: RuleAccessPolicy;
  #loadedAt = -Infinity;
  #loading: Promise<void> | undefined;
  /** Ids of invalid rows already reported, so each is logged once. */
  readonly #reported = new Set<string>();

  constructor(options: DatabaseRulesOptions) {
    this.#configRules = options.configRules;
    this.#store = options.store;
    this.#personalNamespace = options.personalNamespace ?? false;
    this.#ttlMs = options.ttlMs ?? DATABASE_RULES_TTL_MS;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    // Until the database has been read: the config rules (or the default without any).
    this.#policy = this.#build([]);
  }

  /** Reads the database rules again when the cached ones are older than the TTL. */
  refresh(): Promise<void> {
    if (this.#now() - this.#loadedAt < this.#ttlMs) return Promise.resolve();
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #load(): Promise<void> {
    let rows: readonly StoredAccessRule[];
    try {
      rows = await this.#store.listAccessRules();
    } catch (error) {
      // Keep the rules last read; try again on the next request.
      this.#log?.error({ err: String(error) }, 'access rules: the database rules cannot be read; using the ones read before');
      return;
    }
    const rules: AccessRule[] = [];
    for (const row of rows) {
      const checked = validateAccessRule({ repositories: row.repositories, subjects: row.subjects, actions: row.actions, ...(row.from === undefined || row.from === null ? {} : { from: row.from }) });
      if ('rule' in checked) {
        rules.push(checked.rule);
        continue;
      }
      const key = `${row.id}:${checked.problems.join(';')}`;
      if (!this.#reported.has(key)) {
        this.#reported.add(key);
        this.#log?.error({ rule: row.id, problems: checked.problems }, 'access rules: ignoring an invalid rule in the database');
      }
    }
    this.#policy = this.#build(rules);
    this.#loadedAt = this.#now();
  }

  #build(databaseRules: readonly AccessRule[]): RuleAccessPolicy {
    // Rules are given when the config file has `access.rules` (even empty) or the database has any.
    const given = this.#configRules !== undefined || databaseRules.length > 0;
    const rules = given ? [...(this.#configRules ?? []), ...databaseRules] : DEFAULT_RULES;
    return new RuleAccessPolicy(rules, { personalNamespace: this.#personalNamespace });
  }

  actionsOn(identity: Identity | undefined, repository: string, address?: string): ReadonlySet<Action> {
    return this.#policy.actionsOn(identity, repository, address);
  }

  pullableRepositories(identity: Identity | undefined, address?: string): ((repository: string) => boolean) | undefined {
    return this.#policy.pullableRepositories(identity, address);
  }
}

export type { Action, Identity, Credentials, Authenticator, AccessPolicy, RepositoryScope, Challenge, Decision } from './types.ts';
export { ALL_ACTIONS } from './types.ts';
export { AccessControl, type AccessControlOptions } from './access.ts';
export { HtpasswdAuthenticator, HtpasswdError, parseHtpasswd, type HtpasswdOptions, type AuthLog } from './htpasswd.ts';
export { RuleAccessPolicy, DEFAULT_RULES, subjectProblem, actionProblem, type AccessRule } from './rules.ts';
export { compileRepositoryPattern, repositoryPatternProblem, type RepositoryMatcher } from './patterns.ts';
export { createAccessControl, type AuthSettings } from './setup.ts';

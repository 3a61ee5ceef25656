export type { Action, Identity, Credentials, Authenticator, AccessPolicy, RepositoryScope, Challenge, Decision } from './types.ts';
export { ALL_ACTIONS } from './types.ts';
export { AccessControl, type AccessControlOptions, type LoginResult } from './access.ts';
export { DatabaseUserAuthenticator, USER_BCRYPT_COST, hashUserPassword, userNameProblem, type UserStore, type StoredUser, type DatabaseUsersOptions } from './database-users.ts';
export { DatabaseRulesPolicy, DATABASE_RULES_TTL_MS, validateAccessRule, type AccessRuleStore, type StoredAccessRule, type DatabaseRulesOptions } from './database-rules.ts';
export { HtpasswdAuthenticator, HtpasswdError, parseHtpasswd, type HtpasswdOptions, type AuthLog } from './htpasswd.ts';
export { RuleAccessPolicy, DEFAULT_RULES, subjectProblem, actionProblem, type AccessRule } from './rules.ts';
export { compileRepositoryPattern, repositoryPatternProblem, type RepositoryMatcher } from './patterns.ts';
export { createAccessControl, type AuthSettings, type AccessControlSources, type LoginLimitSettings } from './setup.ts';
export {
  RobotTokenAuthenticator,
  RobotTokenError,
  generateRobotToken,
  hashRobotToken,
  robotTokenId,
  robotTokenNameProblem,
  parseRobotScope,
  parseRobotScopes,
  formatRobotScope,
  ROBOT_TOKEN_PREFIX,
  type RobotTokenStore,
  type StoredRobotToken,
  type NewRobotToken,
} from './robot-tokens.ts';
export { parseScope, parseScopes, formatScope, scopesOfClaim, CATALOG_SCOPE, type TokenScope, type AccessClaim } from './scope.ts';
export { TokenService, grantScopes, MemoryRefreshTokenStore, MAX_TOKEN_LENGTH, type VerifiedToken, type IssuedToken, type RefreshTokenStore, type StoredRefreshToken } from './tokens.ts';
export { libtrustKeyId, readSigningKey, loadOrCreateSigningKey, type SigningKey } from './keys.ts';
export { createTokenService, AuthSetupError, GENERATED_KEY_FILE, type TokenServiceSettings } from './token-setup.ts';
export { ExternalTokenVerifier, createExternalTokenVerifier, keyOfChain, algorithmsFor, parseCertificateBundle, type TokenVerifier, type ExternalTokenSettings } from './external-tokens.ts';
export { LoginLimiter, DEFAULT_LOGIN_LIMITS, type LoginLimiterSettings, type LimitSettings, type LoginCheck } from './login-limiter.ts';
export { ClientNetwork, addressMatcher, cidrProblem, normalizeAddress, type ClientNetworkSettings } from './network.ts';
export { LdapAuthenticator, escapeDnValue, escapeFilterValue, firstRdnValue, type LdapSettings } from './ldap.ts';
export { RememberedLogins } from './remembered.ts';

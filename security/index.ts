/** Identity and access: who a request acts as (authenticate), and whether they may (authorize). */
export { authenticate, RefusalAuditor } from './authenticate.ts';
export { actions, authorize, refusalReason, refuse, type Action } from './authorize.ts';
export { ensureLocalTokens, LOCAL_ADMIN, localTokensPath, readLocalTokens } from './local.ts';
export { principalFor, principalOfUser, scopesFor, type Principal, type Scope } from './principal.ts';
export {
  createToken,
  findToken,
  listTokens,
  principalFromToken,
  revokeToken,
  tokenId,
  tokenRequestSchema,
  type TokenInfo,
} from './tokens.ts';
export {
  identityFromClaims,
  OidcAuthority,
  oidcSettingsSchema,
  principalFromIdentity,
  type OidcSettings,
} from './oidc.ts';

import type { Knex } from 'knex';
import { appendAudit } from '../db/repositories/audit.ts';
import { NotAllowedError, type ErrorDetail } from '../kernel/errors.ts';
import type { Role } from '../db/repositories/users.ts';
import { roleScopes, type Principal, type Scope } from './principal.ts';

/**
 * Every action Patchflow takes on someone's behalf and the scope it needs. Whether an approver
 * belongs to a change's pool is the CAB gate's rule (workflows/approval-gate.ts), not this table's.
 */
export const actions = {
  'cycle.read': { scope: 'read', doing: 'read cycle status' },
  'cycle.plan': { scope: 'operate', doing: 'plan a patch cycle' },
  'cycle.start': { scope: 'operate', doing: 'start a patch cycle' },
  'cycle.pause': { scope: 'operate', doing: 'pause a patch cycle' },
  'cycle.resume': { scope: 'operate', doing: 'resume a patch cycle' },
  'cycle.cancel': { scope: 'operate', doing: 'cancel a patch cycle' },
  'change.approve': { scope: 'approve', doing: 'decide on changes' },
  'change.reject': { scope: 'approve', doing: 'decide on changes' },
  // The requester may always withdraw their own change; anyone else needs to run cycles.
  'change.withdraw': { scope: 'operate', doing: "withdraw someone else's change" },
  'inventory.read': { scope: 'read', doing: 'read the inventory' },
  'inventory.import': { scope: 'operate', doing: 'change the inventory' },
  'groups.write': { scope: 'operate', doing: 'change asset groups' },
  'scans.import': { scope: 'operate', doing: 'import scan reports' },
  'findings.read': { scope: 'read', doing: 'read findings' },
  'feeds.read': { scope: 'read', doing: 'read advisory feeds' },
  'feeds.sync': { scope: 'operate', doing: 'sync advisory feeds' },
  'baselines.read': { scope: 'read', doing: 'read baselines' },
  'baselines.write': { scope: 'operate', doing: 'change baselines' },
  'demo.seed': { scope: 'operate', doing: 'load the demo' },
  'audit.read': { scope: 'read', doing: 'read the audit trail' },
  'connectors.read': { scope: 'read', doing: 'read connector settings' },
  'connectors.test': { scope: 'admin', doing: 'test connectors' },
  'users.read': { scope: 'read', doing: 'read users' },
  'users.write': { scope: 'admin', doing: 'change users, roles and chat identities' },
  'tokens.self': { scope: 'read', doing: 'manage their own API tokens' },
  'tokens.admin': { scope: 'admin', doing: "manage other people's API tokens" },
} as const satisfies Record<string, { scope: Scope; doing: string }>;
export type Action = keyof typeof actions;

/** The roles that grant a scope, as people know them; admin, which grants every scope, goes unsaid but for admin work. */
function rolesGranting(scope: Scope): string {
  const roles = (Object.keys(roleScopes) as Role[]).filter((r) => roleScopes[r].includes(scope));
  const named = roles.length > 1 ? roles.filter((r) => r !== 'admin') : roles;
  return named.join(' or ');
}

/** Why `principal` may not take `action`, or undefined when it may. */
export function refusalReason(principal: Principal, action: Action): string | undefined {
  const { scope, doing } = actions[action];
  if (principal.scopes.includes(scope)) return undefined;
  const roleAllows = principal.roles.some((r) => roleScopes[r].includes(scope));
  return roleAllows
    ? `${principal.userId} may not ${doing} with this credential: it lacks the ${scope} scope (has ${principal.scopes.join(', ') || 'none'})`
    : `${principal.userId} may not ${doing}: needs the ${rolesGranting(scope)} role (has ${principal.roles.join(', ')})`;
}

/**
 * Refuses `principal` `action` for `reason`: audited with the principal and the subject, then
 * thrown as NotAllowedError (403), with the fields at fault when the refusal is about some.
 */
export async function refuse(
  db: Knex,
  principal: Principal,
  action: Action,
  subject: { type: string; id: string },
  reason: string,
  details: ErrorDetail[] = [],
): Promise<never> {
  await appendAudit(db, {
    actor: principal.userId,
    action: `${action}.refused`,
    subjectType: subject.type,
    subjectId: subject.id,
    data: { reason, via: principal.via },
  });
  throw new NotAllowedError(reason, details);
}

/** The one place that decides whether a principal may act; a refusal goes through `refuse`. */
export async function authorize(
  db: Knex,
  principal: Principal,
  action: Action,
  subject: { type: string; id: string } = { type: 'patchflow', id: '-' },
): Promise<void> {
  const reason = refusalReason(principal, action);
  if (reason) await refuse(db, principal, action, subject, reason);
}

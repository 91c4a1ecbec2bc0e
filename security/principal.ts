import type { Knex } from 'knex';
import { z } from 'zod';
import { findUser, type Role, type User } from '../db/repositories/users.ts';
import { NotFoundError } from '../kernel/errors.ts';

/** What a credential may be used for; a token carries some, a role allows some, a principal has both. */
export const scopeSchema = z.enum(['read', 'operate', 'approve', 'admin']);
export type Scope = z.infer<typeof scopeSchema>;
export const allScopes: readonly Scope[] = scopeSchema.options;

/** The scopes each role allows: a token never does more than its user's roles. */
export const roleScopes: Readonly<Record<Role, readonly Scope[]>> = {
  viewer: ['read'],
  approver: ['read', 'approve'],
  // Managers are the usual escalation approvers.
  manager: ['read', 'approve'],
  coordinator: ['read', 'operate'],
  admin: allScopes,
};

/** The Patchflow user a request acts as, with what this credential lets them do. */
export interface Principal {
  userId: string;
  roles: Role[];
  scopes: Scope[];
  /** The door the request came through, for the audit trail. */
  via: 'token' | 'oidc' | 'slack' | 'teams';
}

/** The scopes `user`'s roles allow, narrowed to `granted` when the credential names some. */
export function scopesFor(user: Pick<User, 'roles'>, granted: readonly Scope[] = allScopes): Scope[] {
  const allowed = new Set(user.roles.flatMap((r) => roleScopes[r]));
  return allScopes.filter((s) => allowed.has(s) && granted.includes(s));
}

export function principalFor(user: User, via: Principal['via'], granted?: readonly Scope[]): Principal {
  return { userId: user.id, roles: user.roles, scopes: scopesFor(user, granted), via };
}

/** A known user as a principal with every scope their roles allow: for scripts and benchmarks run beside the database. */
export async function principalOfUser(db: Knex, userId: string, via: Principal['via'] = 'token'): Promise<Principal> {
  const user = await findUser(db, userId);
  if (!user) throw new NotFoundError(`no user ${userId}`);
  return principalFor(user, via);
}

import type { Knex } from 'knex';
import { z } from 'zod';
import { NotAllowedError, NotFoundError } from '../../kernel/errors.ts';

export const roleSchema = z.enum(['admin', 'approver', 'coordinator', 'manager', 'viewer']);
export type Role = z.infer<typeof roleSchema>;

export const groupNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits and . _ -');

export const userInputSchema = z.object({
  id: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits and . _ @ -'),
  displayName: z.string().trim().min(1).max(200).optional(),
  roles: z.array(roleSchema).min(1, 'at least one role'),
  slackUserId: z
    .string()
    .regex(/^[UW][A-Z0-9]+$/, 'a Slack user id such as U012AB3CD')
    .optional(),
  teamsAadId: z
    .uuid('an Entra (AAD) object id')
    .transform((id) => id.toLowerCase())
    .optional(),
  /** Approver groups (CAB, emergency, escalation) that approval policies name. */
  groups: z.array(groupNameSchema).default([]),
});
export type UserInput = z.input<typeof userInputSchema>;

export interface User {
  id: string;
  displayName: string;
  roles: Role[];
  slackUserId: string | null;
  teamsAadId: string | null;
  groups: string[];
}

interface UserRow {
  id: string;
  display_name: string;
  roles: Role[];
  slack_user_id: string | null;
  teams_aad_id: string | null;
  groups: string[];
}

const fromRow = (r: UserRow): User => ({
  id: r.id,
  displayName: r.display_name,
  roles: r.roles,
  slackUserId: r.slack_user_id,
  teamsAadId: r.teams_aad_id,
  groups: r.groups,
});

export async function upsertUser(db: Knex, input: UserInput): Promise<User> {
  const u = userInputSchema.parse(input);
  const [row] = (await db('users')
    .insert({
      id: u.id,
      display_name: u.displayName ?? u.id,
      roles: u.roles,
      slack_user_id: u.slackUserId ?? null,
      teams_aad_id: u.teamsAadId ?? null,
      groups: u.groups,
    })
    .onConflict('id')
    .merge()
    .returning('*')) as UserRow[];
  return fromRow(row!);
}

/**
 * Creates or updates a person from the identity provider's word: name, roles and approver groups
 * follow the provider; chat identities stay as an admin set them. Returns the roles held before.
 */
export async function syncUserFromIdentity(
  db: Knex,
  identity: { userId: string; displayName: string; roles: Role[]; groups: string[] },
): Promise<{ user: User; previousRoles: Role[] | undefined }> {
  const u = userInputSchema.parse({
    id: identity.userId,
    displayName: identity.displayName,
    roles: identity.roles,
    groups: identity.groups,
  });
  return db.transaction(async (trx) => {
    const before = (await trx('users').where({ id: u.id }).forUpdate().first('roles')) as { roles: Role[] } | undefined;
    const [row] = (await trx('users')
      .insert({ id: u.id, display_name: u.displayName ?? u.id, roles: u.roles, groups: u.groups })
      .onConflict('id')
      .merge(['display_name', 'roles', 'groups'])
      .returning('*')) as UserRow[];
    return { user: fromRow(row!), previousRoles: before?.roles };
  });
}

export async function listUsers(db: Knex): Promise<User[]> {
  return ((await db('users').select('*').orderBy('id')) as UserRow[]).map(fromRow);
}

export async function findUser(db: Knex, id: string): Promise<User | undefined> {
  const row = (await db('users').where({ id }).first()) as UserRow | undefined;
  return row ? fromRow(row) : undefined;
}

export async function usersWithRole(db: Knex, role: Role): Promise<User[]> {
  return ((await db('users').whereRaw('? = any(roles)', [role]).orderBy('id')) as UserRow[]).map(fromRow);
}

/** The person must exist and hold the role; the refusal says which. */
export async function requireRole(db: Knex, userId: string, role: Role, action: string): Promise<User> {
  const user = await findUser(db, userId);
  if (!user)
    throw new NotAllowedError(`unknown user "${userId}" may not ${action}; add them with \`patchflow users add\``);
  if (!user.roles.includes(role))
    throw new NotAllowedError(`${userId} may not ${action}: needs the ${role} role (has ${user.roles.join(', ')})`);
  return user;
}

/** The Patchflow user behind a chat identity (a Slack user id or a Teams/Entra object id). */
export async function findUserByChatId(
  db: Knex,
  chat: 'slack' | 'teams',
  externalId: string,
): Promise<User | undefined> {
  const row = (await db('users')
    .where(chat === 'slack' ? { slack_user_id: externalId } : { teams_aad_id: externalId.toLowerCase() })
    .first()) as UserRow | undefined;
  return row ? fromRow(row) : undefined;
}

/** Users holding any of `roles`, narrowed to members of `groups` unless that is empty. */
export async function usersInGroups(db: Knex, roles: Role[], groups: string[]): Promise<User[]> {
  const q = db('users').whereRaw('roles && ?::text[]', [roles]).orderBy('id');
  if (groups.length) q.whereRaw('groups && ?::text[]', [groups]);
  return ((await q) as UserRow[]).map(fromRow);
}

export async function deleteUser(db: Knex, id: string): Promise<void> {
  const n = await db('users').where({ id }).del();
  if (n === 0) throw new NotFoundError(`no user ${id}`);
}

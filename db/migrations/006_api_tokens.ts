import type { Knex } from 'knex';

/**
 * API tokens: personal ones a user makes for themself, service ones an admin makes for automation.
 * Only a hash of each secret is kept; the token itself is shown once, when it is made.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('api_tokens', (t) => {
    // The public half of the token (pf_<id>_<secret>), so a token is found without scanning hashes.
    t.text('id').primary();
    t.text('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.specificType('scopes', 'text[]').notNullable();
    // SHA-256 of the secret half: the secret is 256 random bits, so a slow hash would add nothing.
    t.text('secret_hash').notNullable();
    t.text('created_by').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.unique(['user_id', 'name']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('api_tokens');
}

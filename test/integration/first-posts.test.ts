import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postOnce } from '../../app/publish/chat.ts';
import { chatMessages } from '../../db/repositories/changes.ts';
import { claimFirstPost } from '../../db/repositories/first-posts.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * A card or change record is posted once per cycle and connector, though no transaction is held
 * while the chat or ITSM tool answers: the first poster claims the row in the database.
 */
describe('first posts are claimed, not locked', () => {
  let t: TestDatabase;
  let n = 0;
  const newCycle = async () => {
    const id = `cyc-20261203-${(++n).toString(16).padStart(6, '0')}`;
    await t.db('cycles').insert({
      id,
      name: id,
      status: 'running',
      phase: 'approval',
      requester: 'erin',
      request: {},
      policy: {},
      workflow_id: `w-${id}`,
    });
    return id;
  };
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t?.drop());

  it('of many concurrent posters, exactly one claims the first post', async () => {
    const id = await newCycle();
    const claims = await Promise.all(
      Array.from({ length: 8 }, () => claimFirstPost(t.db, 'chat_messages', id, 'slack')),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    // A claim holds no ref yet: readers do not see it as a posted card.
    expect(await chatMessages(t.db, id)).toEqual([]);
  });

  it('posts once across posters that race, and saves where the post lives', async () => {
    const id = await newCycle();
    let posts = 0;
    const post = () =>
      postOnce(
        t.db,
        'chat_messages',
        id,
        'slack',
        async () => ({ channel: 'C1', ts: String(++posts) }),
        (ref) =>
          t
            .db('chat_messages')
            .where({ cycle_id: id, connector: 'slack' })
            .update({ ref })
            .then(() => undefined),
      );
    const refs = await Promise.all([post(), post(), post()]);
    expect(posts).toBe(1);
    expect(refs.filter(Boolean)).toEqual([{ channel: 'C1', ts: '1' }]);
    expect(await chatMessages(t.db, id)).toEqual([
      { cycleId: id, connector: 'slack', ref: { channel: 'C1', ts: '1' } },
    ]);
  });

  it('a post that fails gives its claim up, so the next refresh posts at once', async () => {
    const id = await newCycle();
    const save = async () => undefined;
    await expect(
      postOnce(t.db, 'change_records', id, 'servicenow', () => Promise.reject(new Error('503 from the tool')), save),
    ).rejects.toThrow('503 from the tool');
    expect(await claimFirstPost(t.db, 'change_records', id, 'servicenow')).toBe(true);
  });

  it('a claim left by a poster that died lapses after two minutes, and not before', async () => {
    const id = await newCycle();
    expect(await claimFirstPost(t.db, 'chat_messages', id, 'teams')).toBe(true);
    expect(await claimFirstPost(t.db, 'chat_messages', id, 'teams')).toBe(false);
    await t
      .db('chat_messages')
      .where({ cycle_id: id })
      .update({ claimed_at: t.db.raw(`now() - interval '3 minutes'`) });
    expect(await claimFirstPost(t.db, 'chat_messages', id, 'teams')).toBe(true);
  });

  it('a posted card is never claimed again, however old', async () => {
    const id = await newCycle();
    await t.db('chat_messages').insert({
      cycle_id: id,
      connector: 'slack',
      ref: { channel: 'C1', ts: '9' },
      claimed_at: t.db.raw(`now() - interval '1 day'`),
    });
    expect(await claimFirstPost(t.db, 'chat_messages', id, 'slack')).toBe(false);
  });
});

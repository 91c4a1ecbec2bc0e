import type { Knex } from 'knex';
import { claimFirstPost, releaseFirstPostClaim, type PostTable } from '../../db/repositories/first-posts.ts';
import { KeyedQueue } from '../../kernel/keyed-queue.ts';
import { z } from 'zod';
import { chatMessages, loadChangeView, saveChatMessage } from '../../db/repositories/changes.ts';
import { listUsers } from '../../db/repositories/users.ts';
import { buildChangeCard, buildNotice, type CardSource } from '../../integrations/kit/chat/card.ts';
import type { ChangeCard, ChatPerson } from '../../integrations/contract/chat.ts';
import type { ChatMessageRef, Notifier } from '../../integrations/contract/index.ts';
import type { Logger } from '../../kernel/logger.ts';
import type { ConnectorRegistry } from '../../integrations/contract/registry.ts';
import type { ChangeNotice, ChangeRequest } from '../../workflows/approval-types.ts';

/** What publishing a change to chat or to an ITSM tool needs. */
export interface PublishDeps {
  db: Knex;
  registry: ConnectorRegistry;
  logger: Logger;
}

const messageRefSchema = z.record(z.string(), z.string());

/** The configured connectors that post to chat; none when Patchflow runs without chat credentials. */
export function chatNotifiers(registry: ConnectorRegistry): { id: string; notifier: Notifier }[] {
  return registry.allInRole('notifier').map(({ id, impl }) => ({ id, notifier: impl }));
}

export async function chatPeople(db: Knex): Promise<Map<string, ChatPerson>> {
  return new Map(
    (await listUsers(db)).map((u) => [
      u.id,
      { id: u.id, displayName: u.displayName, slackUserId: u.slackUserId, teamsAadId: u.teamsAadId },
    ]),
  );
}

/** One cycle's change as the cards show it, read fresh. */
export interface ChangeView {
  source: CardSource;
  change: ChangeRequest;
  people: ReadonlyMap<string, ChatPerson>;
  card: ChangeCard;
}

/**
 * One cycle's refreshes of one kind run one at a time in this process, each reading the change
 * afresh, so that an older view never lands after a newer one. No transaction is held while a
 * chat or ITSM tool answers: first posts are claimed in the database instead (claimFirstPost).
 */
const refreshes = new KeyedQueue();

/** Runs `work` on the cycle's change read fresh, after the cycle's earlier `purpose` refreshes. Does nothing before the change request exists. */
export async function withChangeView(
  db: Knex,
  purpose: string,
  cycleId: string,
  work: (view: ChangeView) => Promise<void>,
): Promise<void> {
  await refreshes.run(`${purpose}:${cycleId}`, async () => {
    const source = await loadChangeView(db, cycleId);
    if (!source.change) return;
    const people = await chatPeople(db);
    await work({ source, change: source.change, people, card: buildChangeCard(source, people) });
  });
}

/**
 * Posts a connector's first copy of a cycle's post (a card, a change record) exactly once, across
 * processes: the poster claims the row, posts, then saves the ref. Undefined when another poster
 * holds the claim (its post shows the change; the next event refreshes it).
 */
export async function postOnce<R>(
  db: Knex,
  table: PostTable,
  cycleId: string,
  connector: string,
  post: () => Promise<R>,
  save: (ref: R) => Promise<void>,
): Promise<R | undefined> {
  if (!(await claimFirstPost(db, table, cycleId, connector))) return undefined;
  let ref: R;
  try {
    ref = await post();
  } catch (err) {
    await releaseFirstPostClaim(db, table, cycleId, connector);
    throw err;
  }
  await save(ref);
  return ref;
}

/**
 * Brings the cycle's card up to date in every chat: posted the first time a change request
 * exists, updated in place afterwards (decisions, per-ring progress, the outcome). A chat that
 * fails is logged and skipped: the next event refreshes it again.
 */
export async function publishChangeCards(deps: PublishDeps, cycleId: string, notice?: ChangeNotice): Promise<void> {
  const notifiers = chatNotifiers(deps.registry);
  if (notifiers.length === 0) return;
  const { db } = deps;
  await withChangeView(db, 'chat-card', cycleId, async ({ people, card }) => {
    const posted = new Map((await chatMessages(db, cycleId)).map((m) => [m.connector, messageRefSchema.parse(m.ref)]));
    for (const { id, notifier } of notifiers) {
      try {
        let ref: ChatMessageRef | undefined = posted.get(id);
        if (ref) await notifier.updateCard(ref, card);
        else
          ref = await postOnce(
            db,
            'chat_messages',
            cycleId,
            id,
            () => notifier.postCard(card),
            (posted) => saveChatMessage(db, { cycleId, connector: id, ref: posted }),
          );
        if (notice) await notifier.postNotice(buildNotice(notice, cycleId, people), ref);
      } catch (err) {
        deps.logger.warn('chat card not updated', { connector: id, cycleId, err: (err as Error).message });
      }
    }
  });
}

/** The one start-up line that says whether chat is on, and where. */
export function chatStatusLine(registry: ConnectorRegistry): string {
  const chats = chatNotifiers(registry).map((c) => c.id);
  if (chats.length === 0)
    return 'chat is off: no Slack or Teams credentials configured; approvals work from the CLI and REST';
  return `chat is on: ${chats.join(' and ')}; approval cards and progress are posted there, and approvals still work from the CLI and REST`;
}

import type { Knex } from 'knex';
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

/** One cycle's change as the cards show it, read inside the transaction that holds the cycle's lock. */
export interface LockedChangeView {
  trx: Knex.Transaction;
  source: CardSource;
  change: ChangeRequest;
  people: ReadonlyMap<string, ChatPerson>;
  card: ChangeCard;
}

/**
 * Runs `work` on the cycle's change read fresh, in a transaction holding an advisory lock on
 * `purpose` × cycle, so that two events for one cycle never post a card or open a record twice.
 * Does nothing before the change request exists.
 */
export async function withLockedChangeView(
  db: Knex,
  purpose: string,
  cycleId: string,
  work: (view: LockedChangeView) => Promise<void>,
): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`${purpose}:${cycleId}`]);
    const source = await loadChangeView(trx, cycleId);
    if (!source.change) return;
    const people = await chatPeople(trx);
    await work({ trx, source, change: source.change, people, card: buildChangeCard(source, people) });
  });
}

/**
 * Brings the cycle's card up to date in every chat: posted the first time a change request
 * exists, updated in place afterwards (decisions, per-ring progress, the outcome). One cycle's
 * publishes are serialised by an advisory lock so two events never post the card twice. A chat
 * that fails is logged and skipped: the next event refreshes it again.
 */
export async function publishChangeCards(deps: PublishDeps, cycleId: string, notice?: ChangeNotice): Promise<void> {
  const notifiers = chatNotifiers(deps.registry);
  if (notifiers.length === 0) return;
  await withLockedChangeView(deps.db, 'chat-card', cycleId, async ({ trx, people, card }) => {
    const posted = new Map((await chatMessages(trx, cycleId)).map((m) => [m.connector, messageRefSchema.parse(m.ref)]));
    for (const { id, notifier } of notifiers) {
      try {
        let ref: ChatMessageRef | undefined = posted.get(id);
        if (ref) await notifier.updateCard(ref, card);
        else {
          ref = await notifier.postCard(card);
          await saveChatMessage(trx, { cycleId, connector: id, ref });
        }
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

import { appendAudit } from '../db/repositories/audit.ts';
import { activeCycleIds, loadChangeView, pendingApprovalIds } from '../db/repositories/changes.ts';
import { findUserByChatId, type User } from '../db/repositories/users.ts';
import type { ChatActions, ChatActor, ChatReply } from '../integrations/contract/chat.ts';
import { buildChangeCard } from '../integrations/kit/chat/card.ts';
import type { ChangeCard } from '../integrations/contract/chat.ts';
import { commandHelp, cycleIdSchema, parseCommand, type ChatCommand } from '../integrations/kit/chat/commands.ts';
import { describeError, NotAllowedError } from '../kernel/errors.ts';
import { parseInput } from '../kernel/validate.ts';
import type { AppContext } from './context.ts';
import { controlCycle } from './cycle-control.ts';
import { approveCycle, rejectCycle, startCycle } from './cycles.ts';
import { authorize, principalFor, RefusalAuditor, type Action, type Principal } from '../security/index.ts';
import { chatPeople } from './publish/chat.ts';

const reply = (text: string, cards: ChangeCard[] = []): ChatReply => ({ ok: true, text, cards });
const refusal = (text: string): ChatReply => ({ ok: false, text, cards: [] });

/**
 * Chat actions as Patchflow performs them: the chat identity is mapped to a Patchflow user
 * (unknown people are refused, and the refusal audited) and acts as that user's principal, which
 * the one `authorize` checks (security/authorize.ts); the work is done by
 * the same functions REST and the CLI use, so validation, Updates and audit are identical.
 */
export function createChatActions(ctx: AppContext): ChatActions {
  const refusals = new RefusalAuditor(ctx.db);
  const identify = async (actor: ChatActor): Promise<User> => {
    const user = await findUserByChatId(ctx.db, actor.chat, actor.externalId);
    if (user) return user;
    const flag = actor.chat === 'slack' ? '--slack' : '--teams';
    await appendAudit(ctx.db, {
      actor: `${actor.chat}:${actor.externalId}`,
      action: 'chat.refused',
      subjectType: 'chat',
      subjectId: actor.chat,
      data: { reason: 'unknown chat user' },
    });
    throw new NotAllowedError(
      `you are not a Patchflow user yet; ask an administrator to run: patchflow users add <your id> --role <role> ${flag} ${actor.externalId}`,
    );
  };
  /** The chat user as a principal, allowed `action` on the cycle (or on chat as a whole). */
  const allowed = async (actor: ChatActor, user: User, action: Action, cycleId?: string): Promise<Principal> => {
    const principal = principalFor(user, actor.chat);
    await authorize(
      ctx.db,
      principal,
      action,
      cycleId ? { type: 'cycle', id: cycleId } : { type: 'chat', id: actor.chat },
    );
    return principal;
  };
  /** Refusals become the reply the person sees; anything else is a fault the connector logs. */
  const answer = async <T>(work: () => Promise<T>): Promise<T | ChatReply> => {
    try {
      return await work();
    } catch (err) {
      const { status, message } = describeError(err);
      if (status >= 500) throw err;
      return refusal(message);
    }
  };
  const cardFor = async (cycleId: string, viewer: User) =>
    buildChangeCard(await loadChangeView(ctx.db, cycleId), await chatPeople(ctx.db), viewer.id);
  const cardsFor = async (ids: string[], viewer: User) => Promise.all(ids.map((id) => cardFor(id, viewer)));

  const run = async (actor: ChatActor, user: User, command: ChatCommand): Promise<ChatReply> => {
    switch (command.name) {
      case 'help':
        return reply(commandHelp);
      case 'approvals': {
        await allowed(actor, user, 'cycle.read');
        const cards = await cardsFor(await pendingApprovalIds(ctx.db), user);
        return reply(
          cards.length ? `${cards.length} change(s) waiting for the CAB` : 'no change is waiting for the CAB',
          cards,
        );
      }
      case 'status': {
        await allowed(actor, user, 'cycle.read', command.cycleId);
        if (command.cycleId) {
          const card = await cardFor(command.cycleId, user);
          return reply(`${card.title}: ${card.status}`, [card]);
        }
        const cards = await cardsFor(await activeCycleIds(ctx.db), user);
        return reply(
          cards.length ? cards.map((c) => `${c.title}: ${c.status}`).join('\n') : 'no cycle is running',
          cards,
        );
      }
      case 'start': {
        const detail = await startCycle(ctx, principalFor(user, actor.chat), {
          demo: command.demo,
          patches: command.patches,
          hosts: command.hosts,
        });
        return reply(
          `started ${detail.cycle.id} (${detail.cycle.name}); staging is tested first, then the CAB is asked here`,
        );
      }
      case 'pause':
      case 'resume':
      case 'cancel': {
        const state = await controlCycle(ctx, principalFor(user, actor.chat), command.cycleId, command.name, {
          reason: command.reason,
          channel: actor.chat,
        });
        const said = {
          pause: 'paused: the rollout holds before its next ring',
          resume: 'resumed',
          cancel: 'cancelling: no further ring will start',
        }[command.name];
        return reply(`${state.cycleId} ${said}`);
      }
    }
  };

  return {
    command: (actor, text) =>
      answer(async () => {
        const user = await identify(actor);
        return run(actor, user, parseCommand(text));
      }),
    approve: (actor, cycleId) =>
      answer(async () => {
        const user = await identify(actor);
        const id = parseInput(cycleIdSchema, cycleId, 'cycle id');
        const state = await approveCycle(ctx, await allowed(actor, user, 'change.approve', id), id, {
          channel: actor.chat,
        });
        const approvals = state.decisions.filter((d) => d.decision === 'approve').length;
        return reply(
          `${user.displayName} approved ${cycleId}: ${state.outcome === 'approved' ? 'approved' : `${approvals} of ${state.quorum} approvals`}`,
        );
      }),
    reject: (actor, cycleId, reason) =>
      answer(async () => {
        const user = await identify(actor);
        const id = parseInput(cycleIdSchema, cycleId, 'cycle id');
        await rejectCycle(ctx, await allowed(actor, user, 'change.reject', id), id, {
          reason,
          channel: actor.chat,
        });
        return reply(`${user.displayName} rejected ${cycleId}: ${reason}`);
      }),
    card: (actor, cycleId) =>
      answer(async () => {
        const user = await identify(actor);
        await allowed(actor, user, 'cycle.read', cycleId);
        return cardFor(parseInput(cycleIdSchema, cycleId, 'cycle id'), user);
      }),
    overview: (actor) =>
      answer(async () => {
        const user = await identify(actor);
        await allowed(actor, user, 'cycle.read');
        const pending = await pendingApprovalIds(ctx.db);
        const running = (await activeCycleIds(ctx.db)).filter((id) => !pending.includes(id));
        return { pending: await cardsFor(pending, user), running: await cardsFor(running, user) };
      }),
    // Forged requests come in floods: one row a minute per chat and reason, counting the rest.
    unauthenticated: (chat, detail) =>
      refusals.refused(chat, detail['reason'] ?? 'unauthenticated', detail, {
        actor: `${chat}:unauthenticated`,
        action: 'chat.unauthenticated',
        subjectType: 'chat',
      }),
  };
}

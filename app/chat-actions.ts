import { appendAudit } from '../db/repositories/audit.ts';
import { activeCycleIds, loadChangeView, pendingApprovalIds } from '../db/repositories/changes.ts';
import { findUserByChatId, type Role, type User } from '../db/repositories/users.ts';
import type { ChatActions, ChatActor, ChatReply } from '../integrations/contract/chat.ts';
import { buildChangeCard } from '../integrations/kit/chat/card.ts';
import type { ChangeCard } from '../integrations/contract/chat.ts';
import { commandHelp, cycleIdSchema, parseCommand, type ChatCommand } from '../integrations/kit/chat/commands.ts';
import { describeError, NotAllowedError } from '../kernel/errors.ts';
import { parseInput } from '../kernel/validate.ts';
import type { AppContext } from './context.ts';
import { controlCycle } from './cycle-control.ts';
import { approveCycle, auditRefusal, rejectCycle, startCycle } from './cycles.ts';
import { chatPeople } from './publish/chat.ts';

const readers: Role[] = ['viewer', 'approver', 'coordinator', 'manager'];
const deciders: Role[] = ['approver', 'manager'];
const coordinators: Role[] = ['coordinator'];

const reply = (text: string, cards: ChangeCard[] = []): ChatReply => ({ ok: true, text, cards });
const refusal = (text: string): ChatReply => ({ ok: false, text, cards: [] });

/**
 * Chat actions as Patchflow performs them: the chat identity is mapped to a Patchflow user
 * (unknown people are refused, and the refusal audited), the role the action needs is checked
 * (viewers read, coordinators run cycles, approvers and managers decide), and the work is done by
 * the same functions REST and the CLI use, so validation, Updates and audit are identical.
 */
export function createChatActions(ctx: AppContext): ChatActions {
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
  const requireAnyRole = async (
    user: User,
    roles: Role[],
    action: string,
    subjectId: string,
    doing: string,
  ): Promise<void> => {
    if (user.roles.some((r) => roles.includes(r))) return;
    await auditRefusal(
      ctx,
      user.id,
      action,
      subjectId,
    )(
      new NotAllowedError(
        `${user.id} may not ${doing}: needs the ${roles.join(' or ')} role (has ${user.roles.join(', ')})`,
      ),
    );
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
        await requireAnyRole(user, readers, 'chat.read', 'chat', 'read approvals');
        const cards = await cardsFor(await pendingApprovalIds(ctx.db), user);
        return reply(
          cards.length ? `${cards.length} change(s) waiting for the CAB` : 'no change is waiting for the CAB',
          cards,
        );
      }
      case 'status': {
        await requireAnyRole(user, readers, 'chat.read', command.cycleId ?? 'chat', 'read cycle status');
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
        await requireAnyRole(user, coordinators, 'cycle.start', 'new', 'start a patch cycle');
        const detail = await startCycle(ctx, {
          requester: user.id,
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
        await requireAnyRole(
          user,
          coordinators,
          `cycle.${command.name}`,
          command.cycleId,
          `${command.name} a patch cycle`,
        );
        const state = await controlCycle(ctx, command.cycleId, command.name, {
          by: user.id,
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
        await requireAnyRole(user, deciders, 'change.approve', cycleId, 'decide on changes');
        const state = await approveCycle(ctx, parseInput(cycleIdSchema, cycleId, 'cycle id'), {
          by: user.id,
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
        await requireAnyRole(user, deciders, 'change.reject', cycleId, 'decide on changes');
        await rejectCycle(ctx, parseInput(cycleIdSchema, cycleId, 'cycle id'), {
          by: user.id,
          reason,
          channel: actor.chat,
        });
        return reply(`${user.displayName} rejected ${cycleId}: ${reason}`);
      }),
    card: (actor, cycleId) =>
      answer(async () => {
        const user = await identify(actor);
        await requireAnyRole(user, readers, 'chat.read', cycleId, 'read cycle status');
        return cardFor(parseInput(cycleIdSchema, cycleId, 'cycle id'), user);
      }),
    overview: (actor) =>
      answer(async () => {
        const user = await identify(actor);
        await requireAnyRole(user, readers, 'chat.read', 'chat', 'read approvals');
        const pending = await pendingApprovalIds(ctx.db);
        const running = (await activeCycleIds(ctx.db)).filter((id) => !pending.includes(id));
        return { pending: await cardsFor(pending, user), running: await cardsFor(running, user) };
      }),
    unauthenticated: async (chat, detail) => {
      await appendAudit(ctx.db, {
        actor: `${chat}:unauthenticated`,
        action: 'chat.unauthenticated',
        subjectType: 'chat',
        subjectId: chat,
        data: detail,
      });
    },
  };
}

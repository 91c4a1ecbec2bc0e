import type { App, RespondFn, SlackActionMiddlewareArgs, SlackCommandMiddlewareArgs, types } from '@slack/bolt';
import { z } from 'zod';
import { isReply, type ChangeCard, type ChatActions, type ChatActor, type ChatReply } from '../contract/chat.ts';
import { cycleIdSchema } from '../kit/chat/commands.ts';
import { parseInput } from '../../kernel/validate.ts';
import { cardBlocks, cardText, detailsModal, homeView, rejectModal, replyMessage, slackIds } from './blocks.ts';
import type { SlackConfig } from './config.ts';

const commandSchema = z.object({ user_id: z.string().min(1), text: z.string().default('') });
const blockActionSchema = z.object({
  user: z.object({ id: z.string().min(1) }),
  trigger_id: z.string().min(1),
  container: z.object({ type: z.string(), channel_id: z.string().optional(), is_ephemeral: z.boolean().optional() }),
  actions: z.array(z.object({ action_id: z.string(), value: cycleIdSchema })).min(1),
});
type BlockAction = z.output<typeof blockActionSchema>;
const viewSubmissionSchema = z.object({
  user: z.object({ id: z.string().min(1) }),
  view: z.object({
    private_metadata: z.string().transform((s, ctx) => {
      const parsed = z.object({ cycleId: cycleIdSchema, channel: z.string().nullable() }).safeParse(JSON.parse(s));
      if (!parsed.success) ctx.addIssue({ code: 'custom', message: 'not a Patchflow reject view' });
      return parsed.data ?? { cycleId: '', channel: null };
    }),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullish() }))) }),
  }),
});
const homeOpenedSchema = z.object({ user: z.string().min(1), tab: z.string().default('home') });

/**
 * A listener that acks first — Slack shows the user an error after 3 s without an ack, and
 * Patchflow's answer may take longer — then parses the payload, so that a payload Slack changed
 * fails with the field that did not fit (logged by the app's error handler) instead of deep inside.
 */
function acked<S extends z.ZodType, A extends { ack: () => Promise<void>; body: unknown }>(
  schema: S,
  what: string,
  handle: (payload: z.output<S>, args: A) => Promise<void>,
): (args: A) => Promise<void> {
  return async (args) => {
    await args.ack();
    await handle(parseInput(schema, args.body, what), args);
  };
}

/** Every Slack listener Patchflow has: the slash command, the card buttons, the reject modal and the App Home tab. */
export function registerListeners(app: App, actions: ChatActions, config: SlackConfig): void {
  const actor = (externalId: string): ChatActor => ({ chat: 'slack', externalId });

  const publishHome = async (userId: string, notice?: ChatReply) => {
    const overview = await actions.overview(actor(userId));
    const view = isReply(overview) ? homeView({ pending: [], running: [] }) : homeView(overview);
    if (isReply(overview) || notice)
      view.blocks.unshift({
        type: 'section',
        text: { type: 'mrkdwn', text: isReply(overview) ? overview.text : notice!.text },
      });
    await app.client.views.publish({ user_id: userId, view });
  };
  /**
   * A refusal or confirmation for one person: in place of the home tab, or ephemeral where they
   * clicked — through the interaction's response_url when there is one, which reaches them in a
   * DM or a channel the bot was never invited to, where chat.postEphemeral cannot.
   */
  const tell = async (
    userId: string,
    where: { type: string; channel_id?: string | undefined },
    reply: ChatReply,
    respond?: RespondFn,
  ) => {
    if (where.type === 'view') return publishHome(userId, reply);
    if (respond) {
      await respond(replyMessage(reply));
      return;
    }
    await app.client.chat.postEphemeral({
      channel: where.channel_id ?? config.channel,
      user: userId,
      text: replyMessage(reply).text,
      blocks: replyMessage(reply).blocks,
    });
  };
  /** The card a click is about, shown in a modal, or the refusal told to the clicker. */
  const openCardModal = async (
    click: BlockAction,
    modal: (card: ChangeCard) => types.ModalView,
    respond: RespondFn,
  ) => {
    const card = await actions.card(actor(click.user.id), click.actions[0]!.value);
    if (isReply(card)) return tell(click.user.id, click.container, card, respond);
    await app.client.views.open({ trigger_id: click.trigger_id, view: modal(card) });
  };

  app.command(
    config.command,
    acked(commandSchema, 'Slack slash command', async (cmd, { respond }: SlackCommandMiddlewareArgs) => {
      await respond(replyMessage(await actions.command(actor(cmd.user_id), cmd.text)));
    }),
  );

  app.action(
    slackIds.approve,
    acked(blockActionSchema, 'Slack approve click', async (click, { respond }: SlackActionMiddlewareArgs) => {
      const cycleId = click.actions[0]!.value;
      const reply = await actions.approve(actor(click.user.id), cycleId);
      // Success shows on the channel's card, which the gate refreshes in place; a refusal is told to the clicker.
      if (!reply.ok || click.container.type === 'view') return tell(click.user.id, click.container, reply, respond);
      // An ephemeral card (a `/patch approvals` answer) is nobody else's to refresh: it is replaced here.
      if (click.container.is_ephemeral) {
        const card = await actions.card(actor(click.user.id), cycleId);
        if (!isReply(card)) await respond({ replace_original: true, text: cardText(card), blocks: cardBlocks(card) });
      }
    }),
  );
  app.action(
    slackIds.reject,
    acked(blockActionSchema, 'Slack reject click', async (click, { respond }: SlackActionMiddlewareArgs) => {
      const card = await actions.card(actor(click.user.id), click.actions[0]!.value);
      if (isReply(card)) return tell(click.user.id, click.container, card, respond);
      // Once the gate is open, the reason form opens only for someone who may decide; anyone else
      // hears why at once. A click that beats the gate's opening gets the form, checked on submit.
      if (card.awaitingDecision && !card.decidable)
        return tell(
          click.user.id,
          click.container,
          {
            ok: false,
            text: `you may not decide on ${card.cycleId}: ${card.status}; only its pending approvers may reject it`,
            cards: [],
          },
          respond,
        );
      await app.client.views.open({
        trigger_id: click.trigger_id,
        view: rejectModal(card, click.container.channel_id),
      });
    }),
  );
  app.action(
    slackIds.details,
    acked(blockActionSchema, 'Slack details click', (click, { respond }: SlackActionMiddlewareArgs) =>
      openCardModal(click, detailsModal, respond),
    ),
  );

  // Parsed and checked before the ack, so that an empty reason is shown on the form itself
  // (`response_action: errors`) instead of closing it; Slack waits 3 s for that answer.
  app.view(slackIds.rejectView, async ({ ack, body }) => {
    const submission = viewSubmissionSchema.safeParse(body);
    const reason = submission.success
      ? (submission.data.view.state.values[slackIds.reasonBlock]?.[slackIds.reasonInput]?.value?.trim() ?? '')
      : '';
    if (!submission.success || !reason) {
      await ack({
        response_action: 'errors',
        errors: {
          [slackIds.reasonBlock]: submission.success
            ? 'A rejection needs a reason: it is recorded in the audit trail'
            : 'This form could not be read; close it and click Reject again',
        },
      });
      // A payload Slack changed fails here with the field that did not fit, for the app's error handler to log.
      if (!submission.success) parseInput(viewSubmissionSchema, body, 'Slack reject form');
      return;
    }
    await ack();
    const { cycleId, channel } = submission.data.view.private_metadata;
    const reply = await actions.reject(actor(submission.data.user.id), cycleId, reason);
    if (!reply.ok || channel === null)
      await tell(submission.data.user.id, channel ? { type: 'message', channel_id: channel } : { type: 'view' }, reply);
  });

  app.event('app_home_opened', async ({ event }) => {
    const opened = parseInput(homeOpenedSchema, event, 'Slack app_home_opened event');
    if (opened.tab === 'home') await publishHome(opened.user);
  });
}

import type { types } from '@slack/bolt';
import type { ChatReply } from '../contract/chat.ts';
import type { ChangeCard, ChatNotice } from '../contract/chat.ts';

type Block = types.KnownBlock;

/** Action and view ids the listeners in receiver.ts match on. */
export const slackIds = {
  approve: 'patchflow_approve',
  reject: 'patchflow_reject',
  details: 'patchflow_details',
  rejectView: 'patchflow_reject_reason',
  reasonBlock: 'reason',
  reasonInput: 'reason_input',
} as const;

/** Slack's limits: a message holds 50 blocks, a modal or home tab 100, a header 150 characters. */
const MESSAGE_CARDS = 4;
const HOME_CARDS = 8;

const escape = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
const mrkdwn = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text: clip(text, 3000) } });
const header = (text: string): Block => ({ type: 'header', text: { type: 'plain_text', text: clip(text, 150) } });
const bullets = (title: string, lines: string[]) =>
  `*${escape(title)}*\n${lines.map((l) => `• ${escape(l)}`).join('\n')}`;
const toneMark = {
  attention: ':red_circle:',
  good: ':large_green_circle:',
  warning: ':large_yellow_circle:',
  neutral: ':white_circle:',
} as const;

/** The approval card as a Block Kit message: context, who decided, live progress, and the buttons. */
export function cardBlocks(card: ChangeCard): Block[] {
  const blocks: Block[] = [header(card.title)];
  if (card.emergency) blocks.push(mrkdwn(`:rotating_light: *${escape(card.emergency)}*`));
  blocks.push(mrkdwn(`${toneMark[card.tone]} *${escape(card.status)}*`));
  blocks.push({
    type: 'section',
    fields: card.facts
      .slice(0, 10)
      .map((f) => ({ type: 'mrkdwn', text: clip(`*${escape(f.label)}*\n${escape(f.value)}`, 2000) })),
  });
  if (card.decisions.length) blocks.push(mrkdwn(bullets('Decisions', card.decisions)));
  if (card.progress.length) blocks.push(mrkdwn(bullets('Progress', card.progress)));
  const buttons: types.Button[] = [];
  if (card.decidable) {
    buttons.push(
      {
        type: 'button',
        action_id: slackIds.approve,
        text: { type: 'plain_text', text: 'Approve' },
        style: 'primary',
        value: card.cycleId,
      },
      {
        type: 'button',
        action_id: slackIds.reject,
        text: { type: 'plain_text', text: 'Reject' },
        style: 'danger',
        value: card.cycleId,
      },
    );
  }
  buttons.push({
    type: 'button',
    action_id: slackIds.details,
    text: { type: 'plain_text', text: 'Details' },
    value: card.cycleId,
  });
  blocks.push({ type: 'actions', block_id: `cycle:${card.cycleId}`, elements: buttons });
  return blocks;
}

/** The words shown where blocks cannot be (notifications, screen readers). */
export const cardText = (card: ChangeCard) => `${card.title}: ${card.status}`;

export function noticeText(notice: ChatNotice): string {
  const who = notice.people.map((p) => (p.slackUserId ? `<@${p.slackUserId}>` : escape(p.displayName))).join(' ');
  return `${who} ${escape(notice.text)}`.trim();
}

export function detailsModal(card: ChangeCard): types.ModalView {
  return {
    type: 'modal',
    title: { type: 'plain_text', text: 'Change details' },
    close: { type: 'plain_text', text: 'Close' },
    blocks: [
      ...cardBlocks({ ...card, decidable: false }).filter((b) => b.type !== 'actions'),
      ...card.details.map((s) => mrkdwn(bullets(s.title, s.lines))),
    ],
  };
}

/** The reason for a rejection is required, and recorded with the decision and in the audit trail. */
export function rejectModal(
  card: Pick<ChangeCard, 'cycleId' | 'title'>,
  replyChannel: string | undefined,
): types.ModalView {
  return {
    type: 'modal',
    callback_id: slackIds.rejectView,
    private_metadata: JSON.stringify({ cycleId: card.cycleId, channel: replyChannel ?? null }),
    title: { type: 'plain_text', text: 'Reject change' },
    submit: { type: 'plain_text', text: 'Reject' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      mrkdwn(`Rejecting *${escape(card.title)}*`),
      {
        type: 'input',
        block_id: slackIds.reasonBlock,
        label: { type: 'plain_text', text: 'Reason (recorded in the audit trail)' },
        element: { type: 'plain_text_input', action_id: slackIds.reasonInput, multiline: true, max_length: 2000 },
      },
    ],
  };
}

export function homeView(overview: { pending: ChangeCard[]; running: ChangeCard[] }): types.HomeView {
  const section = (title: string, cards: ChangeCard[], empty: string): Block[] => [
    header(title),
    ...(cards.length
      ? cards.slice(0, HOME_CARDS).flatMap((c) => [...cardBlocks(c), { type: 'divider' } as Block])
      : [mrkdwn(empty)]),
  ];
  return {
    type: 'home',
    blocks: [
      ...section('Pending approvals', overview.pending, 'Nothing waits for the CAB.'),
      ...section('Running cycles', overview.running, 'No cycle is running.'),
    ].slice(0, 100),
  };
}

/** A reply to `/patch` or to a button: seen only by the person who asked. */
export function replyMessage(reply: ChatReply) {
  return {
    response_type: 'ephemeral' as const,
    replace_original: false,
    text: reply.text,
    blocks: [
      mrkdwn(reply.ok ? escape(reply.text) : `:no_entry: ${escape(reply.text)}`),
      ...reply.cards.slice(0, MESSAGE_CARDS).flatMap(cardBlocks),
    ],
  };
}

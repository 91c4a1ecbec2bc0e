import type {
  IAdaptiveCard,
  IExecuteAction,
  IShowCardAction,
  ITextBlock,
  CardElementArray,
  ActionArray,
} from '@microsoft/teams.cards';
import type { ChatReply } from '../contract/chat.ts';
import type { ChangeCard, ChatNotice } from '../contract/chat.ts';

/** The verbs of the card's Action.Execute buttons, as the bot's card.action handler receives them. */
export const teamsVerbs = { approve: 'approve', reject: 'reject', details: 'details', refresh: 'refresh' } as const;
export const REASON_INPUT = 'reason';

const color = { attention: 'Attention', good: 'Good', warning: 'Warning', neutral: 'Default' } as const;
const text = (value: string, extra: Partial<ITextBlock> = {}): ITextBlock => ({
  type: 'TextBlock',
  text: value,
  wrap: true,
  ...extra,
});
const execute = (
  verb: string,
  title: string,
  cycleId: string,
  extra: Partial<IExecuteAction> = {},
): IExecuteAction => ({ type: 'Action.Execute', verb, title, data: { cycleId }, ...extra });
const section = (title: string, lines: string[]): CardElementArray => [
  text(title, { weight: 'Bolder', spacing: 'Medium' }),
  ...lines.map((l) => text(`- ${l}`, { spacing: 'None' })),
];

/** Teams' limit on `refresh.userIds`: https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/user-specific-views */
const REFRESH_USERS_MAX = 60;

/**
 * The approval card as an Adaptive Card with Universal Actions: Approve, Reject (the reason typed
 * into the card) and Details are Action.Execute, and `refresh` lets Teams fetch the card again
 * as each viewer should see it (buttons only for those who may decide).
 */
export function adaptiveCard(card: ChangeCard, opts: { notice?: ChatReply; details?: boolean } = {}): IAdaptiveCard {
  const body: CardElementArray = [];
  if (opts.notice)
    body.push(text(opts.notice.text, { color: opts.notice.ok ? 'Good' : 'Attention', weight: 'Bolder' }));
  body.push(text(card.title, { size: 'Medium', weight: 'Bolder' }));
  if (card.emergency) body.push(text(card.emergency, { color: 'Attention', weight: 'Bolder' }));
  body.push(text(card.status, { color: color[card.tone] }));
  body.push({ type: 'FactSet', facts: card.facts.map((f) => ({ title: f.label, value: f.value })) });
  if (card.decisions.length) body.push(...section('Decisions', card.decisions));
  if (card.progress.length) body.push(...section('Progress', card.progress));
  if (opts.details) for (const s of card.details) body.push(...section(s.title, s.lines));

  const actions: ActionArray = [];
  if (card.decidable) {
    const reject: IShowCardAction = {
      type: 'Action.ShowCard',
      title: 'Reject',
      card: {
        type: 'AdaptiveCard',
        body: [
          {
            type: 'Input.Text',
            id: REASON_INPUT,
            label: 'Reason (recorded in the audit trail)',
            isMultiline: true,
            isRequired: true,
            errorMessage: 'A rejection needs a reason',
            maxLength: 2000,
          },
        ],
        actions: [execute(teamsVerbs.reject, 'Reject change', card.cycleId, { style: 'destructive' })],
      },
    };
    actions.push(execute(teamsVerbs.approve, 'Approve', card.cycleId, { style: 'positive' }), reject);
  }
  if (!opts.details) actions.push(execute(teamsVerbs.details, 'Details', card.cycleId));

  return {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: '1.5',
    // Teams refreshes a card by itself only for the users listed here (MRIs, at most 60).
    refresh: {
      action: execute(teamsVerbs.refresh, 'Refresh', card.cycleId),
      userIds: card.deciders
        .flatMap((p) => (p.teamsAadId ? [`8:orgid:${p.teamsAadId}`] : []))
        .slice(0, REFRESH_USERS_MAX),
    },
    body,
    actions,
  };
}

export const cardAttachment = (content: IAdaptiveCard) => ({
  contentType: 'application/vnd.microsoft.card.adaptive' as const,
  content,
});

/** A reminder or escalation: the people as real mentions, so Teams notifies them. */
export function noticeActivity(notice: ChatNotice) {
  const mentioned = notice.people.filter((p) => p.teamsAadId);
  const names = notice.people.map((p) => (p.teamsAadId ? `<at>${p.displayName}</at>` : p.displayName)).join(' ');
  return {
    type: 'message' as const,
    text: `${names} ${notice.text}`.trim(),
    entities: mentioned.map((p) => ({
      type: 'mention' as const,
      text: `<at>${p.displayName}</at>`,
      mentioned: { id: p.teamsAadId!, name: p.displayName, role: 'user' as const },
    })),
  };
}

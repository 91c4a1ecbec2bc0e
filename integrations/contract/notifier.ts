import type { ChangeCard, ChatNotice } from './chat.ts';

/** Where a posted card lives, as its connector addresses it (Slack channel and ts, Teams conversation and activity id). */
export type ChatMessageRef = Readonly<Record<string, string>>;

/** Posts change cards and notices to the team's approval channel; called from activities in the worker. */
export interface Notifier {
  postCard(card: ChangeCard): Promise<ChatMessageRef>;
  /** Replaces the card in place: who decided, live per-ring progress. */
  updateCard(ref: ChatMessageRef, card: ChangeCard): Promise<void>;
  /** A reminder or escalation, next to the card when it was posted. */
  postNotice(notice: ChatNotice, card: ChatMessageRef | undefined): Promise<void>;
}

import type { ChangeCard } from './card.ts';

/** Who acted in chat, as the chat platform identified them; mapped to a Patchflow user before anything happens. */
export interface ChatActor {
  chat: 'slack' | 'teams';
  /** Slack user id (U…) or Teams/Entra object id. */
  externalId: string;
}

/** What Patchflow answers: a line of text for the person, and cards to show with it. */
export interface ChatReply {
  ok: boolean;
  text: string;
  cards: ChangeCard[];
}

/**
 * Everything a chat connector may ask Patchflow to do. Each call maps the actor to a user,
 * checks the role the action needs and audits refusals; connectors only translate payloads.
 */
export interface ChatActions {
  /** `/patch …` in Slack, or a message to the bot in Teams. */
  command(actor: ChatActor, text: string): Promise<ChatReply>;
  approve(actor: ChatActor, cycleId: string): Promise<ChatReply>;
  reject(actor: ChatActor, cycleId: string, reason: string): Promise<ChatReply>;
  /** The card as this person should see it now (Details, Teams refresh): decision buttons only for those who may decide. */
  card(actor: ChatActor, cycleId: string): Promise<ChangeCard | ChatReply>;
  /** Pending approvals and running cycles for a home tab. */
  overview(actor: ChatActor): Promise<{ pending: ChangeCard[]; running: ChangeCard[] } | ChatReply>;
  /** An inbound request failed authentication (bad signature, stale, invalid token); the connector answers 401 after this. */
  unauthenticated(chat: ChatActor['chat'], detail: Record<string, string>): Promise<void>;
}

export function isReply(value: object): value is ChatReply {
  return 'ok' in value && 'text' in value;
}

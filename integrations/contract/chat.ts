/** The chat model the contract speaks: cards and notices Patchflow posts, and the actions people take in chat. */

/** A Patchflow user as chat shows them: a name, and the handles that mention them. */
export interface ChatPerson {
  id: string;
  displayName: string;
  slackUserId: string | null;
  teamsAadId: string | null;
}

export type CardTone = 'attention' | 'good' | 'warning' | 'neutral';

export interface CardFact {
  label: string;
  value: string;
}

export interface CardSection {
  title: string;
  lines: string[];
}

export interface ChangeCard {
  cycleId: string;
  title: string;
  status: string;
  tone: CardTone;
  /** Why this is an emergency change; shown as a banner. */
  emergency: string | null;
  facts: CardFact[];
  decisions: string[];
  /** Live per-ring progress, least critical ring first. */
  progress: string[];
  /** The full context behind the Details button. */
  details: CardSection[];
  /** The CAB gate is open and the change undecided. */
  awaitingDecision: boolean;
  /** Approve and Reject are offered (the gate still validates whoever clicks). */
  decidable: boolean;
  /** Who may still decide: platforms that refresh a card per person (Teams' refresh.userIds) refresh it for them. */
  deciders: ChatPerson[];
}

/** A reminder or escalation as chat posts it: the text, and the people to mention in front of it. */
export interface ChatNotice {
  cycleId: string;
  text: string;
  people: ChatPerson[];
}

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

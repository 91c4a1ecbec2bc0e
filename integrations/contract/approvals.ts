import type { Router } from 'express';
import type { ChatActions } from './chat.ts';

/** Receives people's actions in chat and hands them to Patchflow; mounted on the server's HTTP app. */
export interface ApprovalChannel {
  mount(router: Router, actions: ChatActions): Promise<void>;
}

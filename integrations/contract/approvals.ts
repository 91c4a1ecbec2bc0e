import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChatActions } from './chat.ts';

/**
 * A Node HTTP handler in the Connect style (an Express router is one): it answers the request or
 * passes it on with `next`. The server mounts it, so the contract names no web framework.
 */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** Receives people's actions in chat and hands them to Patchflow. */
export interface ApprovalChannel {
  /** The handler for the channel's own paths (`/slack/*`, `/teams/*`), ready once the SDK behind it has started. */
  handler(actions: ChatActions): Promise<HttpHandler>;
}

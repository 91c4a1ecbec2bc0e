import type { Request, Response, Router } from 'express';
import type { HttpHandler } from '../contract/index.ts';

/**
 * An Express router as the contract's HttpHandler. The server mounts it inside its own Express
 * app, which has decorated the request and response before they get here.
 */
export function routerHandler(router: Router): HttpHandler {
  return (req, res, next) => router(req as Request, res as Response, next);
}

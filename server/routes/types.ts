import type { Router } from 'express';
import type { AppContext } from '../../app/context.ts';

/** A group of REST routes; listed in server/routes/index.ts. */
export interface RouteModule {
  /** Mount path under /api, e.g. `/cycles`. */
  path: string;
  register(router: Router, ctx: AppContext): void;
}

import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

const webDir = fileURLToPath(new URL('../web/', import.meta.url));

/** The browser pages (dashboard at `/`, the Teams tab); static files that read the REST API. */
export function webRouter(): Router {
  const router = express.Router();
  router.get('/', (_req, res) => res.sendFile('dashboard.html', { root: webDir }));
  router.get('/login', (_req, res) => res.sendFile('login.html', { root: webDir }));
  router.use(express.static(webDir, { index: false }));
  return router;
}

import type { Request } from 'express';
import { InputError } from '../kernel/errors.ts';

/**
 * Raw request bodies for uploads (scanner reports, inventory files), read as a stream so that a
 * large upload is never buffered whole unless the caller asks for its text.
 */

/** The body's chunks as they arrive; more than `maxBytes` is an InputError naming the limit. */
export async function* requestChunks(req: Request, maxBytes: number, what: string): AsyncGenerator<Uint8Array> {
  let received = 0;
  // Stopping early must not destroy the request: the client still has to read the error response.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > maxBytes)
      throw new InputError(`${what} is larger than the ${maxBytes} bytes this server accepts`, [
        { path: ['body'], message: `more than ${maxBytes} bytes` },
      ]);
    yield chunk;
  }
}

/** The whole body as UTF-8 text (a BOM is kept for the parser to drop); for small uploads only. */
export async function requestText(req: Request, maxBytes: number, what: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of requestChunks(req, maxBytes, what)) chunks.push(chunk);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new InputError(`${what} is not UTF-8 text`, [{ path: ['body'], message: 'not UTF-8' }]);
  }
}

/**
 * Runs `handle` over the body; when it fails before the upload is complete, the rest is read
 * and thrown away (up to `maxBytes`) so that the client gets the error response instead of a
 * connection reset in the middle of sending.
 */
export async function withRequestBody<T>(req: Request, maxBytes: number, handle: () => Promise<T>): Promise<T> {
  try {
    return await handle();
  } catch (err) {
    await discardRest(req, maxBytes);
    throw err;
  }
}

async function discardRest(req: Request, maxBytes: number): Promise<void> {
  if (req.readableEnded || req.destroyed) return;
  let discarded = 0;
  await new Promise<void>((resolve) => {
    req.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > maxBytes) {
        req.pause();
        resolve();
      }
    });
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', () => resolve());
    req.resume();
  });
}

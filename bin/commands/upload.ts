import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { InputError } from '../../kernel/errors.ts';
import { apiRequest } from '../api.ts';

/** Sends a file as the raw request body, streamed, so that a multi-gigabyte report never sits in the CLI's memory. */
export async function uploadFile<T>(path: string, file: string, contentType: string): Promise<T> {
  const info = await stat(file).catch((err: Error) => {
    throw new InputError(`cannot read ${file}: ${err.message}`, [{ path: ['<file>'], message: 'not readable' }]);
  });
  if (!info.isFile()) throw new InputError(`${file} is not a file`, [{ path: ['<file>'], message: 'not a file' }]);
  const body = Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>;
  return apiRequest<T>('POST', path, undefined, {
    headers: { 'content-type': contentType, 'content-length': String(info.size) },
    rawBody: body,
  });
}

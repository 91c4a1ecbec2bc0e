import { readFileSync } from 'node:fs';
import { InputError } from '../../../kernel/errors.ts';

/**
 * The PEM a connector's `caFile` setting names, read once when the connector is configured: an
 * unreadable file or one holding no certificate stops start-up naming the setting, instead of
 * failing the first TLS handshake with a less helpful message.
 */
export function readCaFile(file: string | undefined, connectorId: string, what: string): string | undefined {
  if (!file) return undefined;
  const path = ['connectors', connectorId, 'caFile'];
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(
      `cannot read the ${what} CA file ${file}: ${(err as Error).message}`,
      [{ path, message: 'unreadable' }],
      err,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new InputError(`the ${what} CA file ${file} holds no PEM certificate`, [
      { path, message: 'not a PEM certificate file' },
    ]);
  return pem;
}

import type { z } from 'zod';
import { inputErrorFromZod } from './errors.ts';

/** Parses untrusted input at an edge; a failure becomes an InputError naming each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw inputErrorFromZod(what, result.error.issues);
  return result.data;
}

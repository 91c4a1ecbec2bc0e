import { InputError } from '../../kernel/errors.ts';
import type { CliValues } from './types.ts';

/** A required string option; its absence is an InputError naming the option. */
export function requireOption(values: CliValues, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '')
    throw new InputError(`--${name} is required`, [{ path: [`--${name}`], message: 'required' }]);
  return v;
}

export function requirePositional(positionals: string[], index: number, name: string): string {
  const v = positionals[index];
  if (v === undefined || v.trim() === '')
    throw new InputError(`<${name}> is required`, [{ path: [`<${name}>`], message: 'required' }]);
  return v;
}

export function printJsonOr(values: CliValues, data: unknown, human: () => string): void {
  process.stdout.write(values['json'] ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}

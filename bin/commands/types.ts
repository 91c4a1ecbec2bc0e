import type { ParseArgsConfig } from 'node:util';

export type CliValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** One `patchflow <path…>` command; listed in bin/commands/index.ts. */
export interface CliCommand {
  path: readonly string[];
  summary: string;
  /** Positional arguments and options as shown in help, e.g. `<id> [--reason <text>]`. */
  usage: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  run(input: { values: CliValues; positionals: string[] }): Promise<number>;
}

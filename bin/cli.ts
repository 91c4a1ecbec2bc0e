import { parseArgs } from 'node:util';
import { PatchflowError } from '../kernel/errors.ts';
import { actAs } from './api.ts';
import { commands } from './commands/index.ts';
import type { CliCommand, CliValues } from './commands/types.ts';

export async function main(argv: string[]): Promise<number> {
  const command = findCommand(argv);
  if (!command || argv.includes('--help') || argv.length === 0) {
    process.stdout.write(help(command));
    return command || argv.includes('--help') || argv.length === 0 ? 0 : 2;
  }
  let parsed: { values: CliValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv.slice(command.path.length),
      // --as is every command's: the local user whose token the call uses (local mode).
      options: { ...command.options, as: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    process.stderr.write(
      `patchflow ${command.path.join(' ')}: ${(err as Error).message}\nusage: patchflow ${command.path.join(' ')} ${command.usage}\n`,
    );
    return 2;
  }
  if (typeof parsed.values['as'] === 'string') actAs(parsed.values['as']);
  try {
    return await command.run(parsed);
  } catch (err) {
    return reportError(command, err);
  }
}

function findCommand(argv: string[]): CliCommand | undefined {
  // Longest path first, so that `cycle start` wins over a hypothetical `cycle`.
  return [...commands].sort((a, b) => b.path.length - a.path.length).find((c) => c.path.every((p, i) => argv[i] === p));
}

function reportError(command: CliCommand, err: unknown): number {
  if (err instanceof PatchflowError) {
    process.stderr.write(`patchflow ${command.path.join(' ')}: ${err.message}\n`);
    for (const d of err.details)
      process.stderr.write(`  ${d.path.length ? d.path.join('.') : '(input)'}: ${d.message}\n`);
    return err.code === 'invalid_input' || err.code === 'usage' ? 2 : 1;
  }
  process.stderr.write(`patchflow ${command.path.join(' ')}: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}

function help(command: CliCommand | undefined): string {
  if (command) return `usage: patchflow ${command.path.join(' ')} ${command.usage}\n\n${command.summary}\n`;
  // Long usages get their summary on the next line, so the list stays readable in 100 columns.
  const lines = commands.map((c) => {
    const head = `${c.path.join(' ')} ${c.usage}`.trimEnd();
    return head.length <= 44 ? `  ${head.padEnd(46)}${c.summary}` : `  ${head}\n  ${''.padEnd(46)}${c.summary}`;
  });
  return `patchflow — durable patch management on Temporal\n\nusage: patchflow <command> [options]\n\n${lines.join('\n')}\n\nRead commands accept --json. The CLI talks to the server at PATCHFLOW_URL (default http://127.0.0.1:8080)\nas PATCHFLOW_TOKEN's owner, or in local mode as the local admin (--as <user> picks another local user).\n`;
}

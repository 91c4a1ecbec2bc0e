import { z } from 'zod';
import { InputError } from '../../kernel/errors.ts';
import type { HostOutcome, HostResult } from '../contract/index.ts';
import { parseInput } from '../../kernel/validate.ts';

/**
 * The JSON callback's document (ansible.posix.json shape; our own patchflow_json callback writes
 * the same). Only the fields Patchflow reads are typed; task results stay open records.
 */
const hostTaskResultSchema = z
  .object({
    changed: z.boolean().nullish(),
    failed: z.boolean().nullish(),
    unreachable: z.boolean().nullish(),
    skipped: z.boolean().nullish(),
    ignore_errors: z.boolean().nullish(),
    msg: z.unknown().optional(),
    stdout: z.string().nullish(),
    stderr: z.string().nullish(),
    rc: z.number().nullish(),
  })
  .loose();

const statsSchema = z.object({
  ok: z.number(),
  changed: z.number(),
  failures: z.number(),
  unreachable: z.number(),
  skipped: z.number(),
  rescued: z.number().optional(),
  ignored: z.number().optional(),
});

export const playbookJsonSchema = z.object({
  plays: z.array(
    z.object({
      play: z.object({ name: z.string(), id: z.string() }).loose(),
      tasks: z.array(
        z.object({
          task: z.object({ name: z.string(), id: z.string() }).loose(),
          hosts: z.record(z.string(), hostTaskResultSchema),
        }),
      ),
    }),
  ),
  stats: z.record(z.string(), statsSchema),
});
export type PlaybookJson = z.infer<typeof playbookJsonSchema>;

/** The callback prints exactly one JSON document; warnings may precede it on stdout. */
export function parsePlaybookJson(stdout: string): PlaybookJson {
  const start = stdout.indexOf('{');
  if (start < 0)
    throw new InputError('ansible-playbook printed no JSON result', [
      { path: ['stdout'], message: stdout.slice(0, 300) || '(empty)' },
    ]);
  let doc: unknown;
  try {
    doc = JSON.parse(stdout.slice(start));
  } catch (err) {
    throw new InputError(`ansible-playbook output is not valid JSON: ${(err as Error).message}`, [
      { path: ['stdout'], message: 'not JSON' },
    ]);
  }
  return parseInput(playbookJsonSchema, doc, 'ansible-playbook JSON result');
}

/**
 * One HostResult per requested host. A requested host absent from the run (not in the inventory,
 * or cut off by a limit) is reported, never dropped.
 */
export function hostResultsFromPlaybook(doc: PlaybookJson, requested: string[]): HostResult[] {
  return requested.map((hostname): HostResult => {
    const stats = doc.stats[hostname];
    if (!stats)
      return { hostname, outcome: 'unreachable', message: 'host is not in the Ansible inventory or was not run' };
    const tasks = doc.plays.flatMap((p) =>
      p.tasks.flatMap((t) => (t.hosts[hostname] ? [{ name: t.task.name, result: t.hosts[hostname] }] : [])),
    );
    const evidence = {
      stats,
      tasks: tasks
        .filter((t) => !t.result.skipped)
        .map((t) => ({
          task: t.name,
          changed: t.result.changed ?? false,
          failed: t.result.failed ?? false,
          stdout: t.result.stdout,
        })),
    };
    const unreachable = tasks.find((t) => t.result.unreachable);
    if (unreachable || stats.unreachable > 0)
      return {
        hostname,
        outcome: 'unreachable',
        message: describe(unreachable?.result) || 'host unreachable',
        evidence,
      };
    const failed = tasks.find((t) => t.result.failed && !t.result.ignore_errors);
    if (failed || stats.failures > 0)
      return {
        hostname,
        outcome: 'failed',
        message: `${failed?.name ?? 'a task'}: ${describe(failed?.result) || 'failed'}`,
        evidence,
      };
    const outcome: HostOutcome = stats.changed > 0 ? 'patched' : 'already_compliant';
    const changedTask = tasks.find((t) => t.result.changed);
    return {
      hostname,
      outcome,
      message: changedTask ? `${changedTask.name}: ${describe(changedTask.result)}` : 'nothing to change',
      evidence,
    };
  });
}

function describe(result: z.infer<typeof hostTaskResultSchema> | undefined): string {
  if (!result) return '';
  if (typeof result.msg === 'string' && result.msg)
    return result.msg === 'non-zero return code' && result.stderr ? result.stderr.trim() : result.msg;
  return (result.stderr?.trim() || result.stdout?.trim() || '').slice(0, 500);
}

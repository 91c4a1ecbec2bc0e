import { z } from 'zod';
import { InputError } from '../../kernel/errors.ts';
import type { HostOutcome, HostResult } from '../contract/index.ts';
import { parseInput } from '../../kernel/validate.ts';

/**
 * The JSON callback's document (ansible.posix.json shape; our own patchflow_json callback writes
 * the same). Only the fields Patchflow reads are typed; task results stay open records, and what a
 * module puts in them is its own: network modules (`cisco.ios.ios_command`, …) return `stdout` as
 * a list, so the text fields take any JSON value.
 */
const hostTaskResultSchema = z
  .object({
    changed: z.boolean().nullish(),
    failed: z.boolean().nullish(),
    unreachable: z.boolean().nullish(),
    skipped: z.boolean().nullish(),
    ignore_errors: z.boolean().nullish(),
    msg: z.unknown().optional(),
    stdout: z.unknown().optional(),
    stderr: z.unknown().optional(),
    rc: z.number().nullish(),
  })
  .loose();
type HostTaskResult = z.infer<typeof hostTaskResultSchema>;

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
  /** `set_stats` data gathered over the run's hosts (per_host: false); see reboot.ts. */
  global_custom_stats: z.record(z.string(), z.unknown()).default({}),
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
 * or cut off by a limit) is reported, never dropped. The play recap decides how a host ended: a
 * task that failed inside a block whose `rescue:` handled it is counted as rescued, not as a
 * failure, so only `failures` makes a host failed.
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
    const failedTasks = tasks.filter((t) => t.result.failed && !t.result.ignore_errors);
    if (stats.failures > 0) {
      // The failure that counted is the last: the ones before it may have been handled by a rescue block.
      const failed = failedTasks.at(-1);
      return {
        hostname,
        outcome: 'failed',
        message: `${failed?.name ?? 'a task'}: ${describe(failed?.result) || 'failed'}`,
        evidence,
      };
    }
    const outcome: HostOutcome = stats.changed > 0 ? 'patched' : 'already_compliant';
    // A command that failed reports changed too; the change that stands is one that did not fail.
    const changedTask = tasks.find((t) => t.result.changed && !t.result.failed);
    const message = changedTask ? `${changedTask.name}: ${describe(changedTask.result)}` : 'nothing to change';
    const rescued = failedTasks[0];
    return {
      hostname,
      outcome,
      message:
        (stats.rescued ?? 0) > 0
          ? `${message}; a rescue block handled a failed task (${rescued?.name ?? 'a task'}: ${describe(rescued?.result) || 'failed'})`
          : message,
      evidence,
    };
  });
}

/** A result field as text: modules return strings, lists (network modules' `stdout`) or objects. */
function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return (typeof value === 'string' ? value : JSON.stringify(value)).trim();
}

function describe(result: HostTaskResult | undefined): string {
  if (!result) return '';
  if (typeof result.msg === 'string' && result.msg)
    return result.msg === 'non-zero return code' && text(result.stderr) ? text(result.stderr) : result.msg;
  return (text(result.stderr) || text(result.stdout) || text(result.msg)).slice(0, 500);
}

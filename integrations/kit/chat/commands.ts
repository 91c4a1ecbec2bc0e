import { z } from 'zod';
import { InputError, inputErrorFromZod } from '../../../kernel/errors.ts';

/** The `/patch` commands, shared by the Slack slash command and the Teams bot. */
export const cycleIdSchema = z.string().regex(/^cyc-\d{8}-[0-9a-f]{6}$/, 'a cycle id such as cyc-20261123-a1b2c3');

const tokenSchema = z.string().min(1).max(200);
const commandSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('help') }),
  z.object({ name: z.literal('approvals') }),
  z.object({ name: z.literal('status'), cycleId: cycleIdSchema.optional() }),
  z.object({ name: z.literal('start'), demo: z.boolean(), patches: z.array(tokenSchema), hosts: z.array(tokenSchema) }),
  z.object({
    name: z.enum(['pause', 'resume', 'cancel']),
    cycleId: cycleIdSchema,
    reason: z.string().max(500).optional(),
  }),
]);
export type ChatCommand = z.infer<typeof commandSchema>;

/** The commands as people type them, with what each does; help, the Slack manifest and the Teams bot menu come from this list. */
export const commandList = [
  { usage: 'help', summary: 'this list' },
  { usage: 'start demo', summary: 'start the demo patch cycle (coordinators)' },
  { usage: 'start <patch>… [on <host>,…]', summary: 'start a cycle for these patches (coordinators)' },
  { usage: 'status [<cycle>]', summary: 'running cycles, or one cycle in full' },
  { usage: 'approvals', summary: 'changes waiting for the CAB' },
  { usage: 'pause <cycle> [reason]', summary: 'hold an approved rollout before its next ring (coordinators)' },
  { usage: 'resume <cycle>', summary: 'let a paused rollout go on (coordinators)' },
  { usage: 'cancel <cycle> [reason]', summary: 'stop an approved rollout before its next ring (coordinators)' },
] as const;

export const commandHelp = [
  'Patchflow commands:',
  ...commandList.map((c) => `  ${c.usage.padEnd(30)}${c.summary}`),
].join('\n');

/** Parses the text after `/patch` (or a message to the bot); an empty text asks for help. */
export function parseCommand(text: string): ChatCommand {
  const [verb = 'help', ...rest] = text.trim().split(/\s+/).filter(Boolean);
  const name = verb.toLowerCase();
  let raw: Record<string, unknown>;
  switch (name) {
    case 'help':
    case 'approvals':
      raw = { name };
      break;
    case 'status':
      raw = { name, ...(rest[0] ? { cycleId: rest[0] } : {}) };
      break;
    case 'start': {
      const on = rest.findIndex((t) => t.toLowerCase() === 'on');
      const patches = on >= 0 ? rest.slice(0, on) : rest;
      const hosts =
        on >= 0
          ? rest
              .slice(on + 1)
              .join(',')
              .split(',')
              .filter(Boolean)
          : [];
      const demo = patches.length === 1 && patches[0]!.toLowerCase() === 'demo';
      raw = { name, demo, patches: demo ? [] : patches, hosts };
      break;
    }
    case 'pause':
    case 'resume':
    case 'cancel':
      raw = { name, cycleId: rest[0], ...(rest.length > 1 ? { reason: rest.slice(1).join(' ') } : {}) };
      break;
    default:
      throw new InputError(`unknown command "${verb}"\n${commandHelp}`, [
        { path: ['command'], message: 'unknown command' },
      ]);
  }
  const parsed = commandSchema.safeParse(raw);
  if (!parsed.success) throw inputErrorFromZod(`command "${name}"`, parsed.error.issues);
  return parsed.data;
}

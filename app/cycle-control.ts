import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { z } from 'zod';
import { appendAudit } from '../db/repositories/audit.ts';
import { getCycle } from '../db/repositories/cycles.ts';
import { authorize, type Principal } from '../security/index.ts';
import { ConflictError } from '../kernel/errors.ts';
import { parseInput } from '../kernel/validate.ts';
import type { CycleControlState } from '../workflows/cycle-control.ts';
import { cycleWorkflowId } from '../workflows/ids.ts';
import { cancelCycleUpdate, pauseCycleUpdate, resumeCycleUpdate } from '../workflows/messages.ts';
import type { AppContext } from './context.ts';
import { auditRefusal, channelSchema, updateRefusal } from './cycles.ts';

export type CycleControlVerb = 'pause' | 'resume' | 'cancel';

export const cycleControlSchema = z
  .object({
    reason: z.string().trim().max(500).optional(),
    channel: channelSchema.default('rest'),
  })
  .strict();

const updates = { pause: pauseCycleUpdate, resume: resumeCycleUpdate, cancel: cancelCycleUpdate } as const;
const done = { pause: 'paused', resume: 'resumed', cancel: 'cancelled' } as const;

/**
 * Pause, resume or cancel an approved rollout: coordinators only, sent as an Update to the cycle
 * workflow, whose validator refuses at once when the cycle is not in a state to take it.
 */
export async function controlCycle(
  ctx: AppContext,
  principal: Principal,
  id: string,
  verb: CycleControlVerb,
  body: unknown,
): Promise<CycleControlState> {
  await authorize(ctx.db, principal, `cycle.${verb}`, { type: 'cycle', id });
  const args = { ...parseInput(cycleControlSchema, body, `${verb} request`), by: principal.userId };
  await getCycle(ctx.db, id);
  const refused = auditRefusal(ctx, args.by, `cycle.${verb}`, id);
  let state: CycleControlState;
  try {
    state = await ctx.temporal.workflow.getHandle(cycleWorkflowId(id)).executeUpdate(updates[verb], { args: [args] });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ConflictError(`cycle ${id} is not running`);
    if (err instanceof WorkflowUpdateFailedError) return refused(updateRefusal(err));
    throw err;
  }
  await appendAudit(ctx.db, {
    actor: args.by,
    action: `cycle.${done[verb]}`,
    subjectType: 'cycle',
    subjectId: id,
    data: { reason: args.reason ?? null, channel: args.channel },
  });
  return state;
}

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { appendAudit } from '../db/repositories/audit.ts';
import { approverPools } from '../db/repositories/changes.ts';
import { cycleDetail, getCycle, insertCycle, listCycles, type CycleDetail } from '../db/repositories/cycles.ts';
import { authorize, refuse, type Principal } from '../security/index.ts';
import { ConflictError, errorFromFailure, InputError, NotReadyError, PatchflowError } from '../kernel/errors.ts';
import { parseInput } from '../kernel/validate.ts';
import { isTerminalCycleStatus } from '../workflows/cycle-states.ts';
import { approvalWorkflowId, cycleWorkflowId } from '../workflows/ids.ts';
import { approveChangeUpdate, rejectChangeUpdate, withdrawChangeUpdate } from '../workflows/messages.ts';
import type { PolicyNotes } from '../workflows/approval-types.ts';
import type { ApprovalState, CyclePolicy } from '../workflows/types.ts';
import type { AppContext } from './context.ts';
import { DEMO_PATCH, demoAssets, ensureDemoFleet, seedDemoRecords } from '../demo/seed.ts';
import { findingsScopeSchema, scopeFromFindings, type FindingsScope } from './findings-scope.ts';
import { cyclePolicySchema } from './cycle-policy.ts';
import {
  describeChange,
  loosenedFieldsRefusal,
  policyChanges,
  policyNotes,
  type PolicyChange,
} from './policy-override.ts';

const userIdSchema = z.string().trim().min(1, 'a user id').max(100);
export const channelSchema = z.enum(['cli', 'rest', 'slack', 'teams']);

export const startCycleSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    /** Seed the demo fleet (idempotent) and patch it. */
    demo: z.boolean().default(false),
    patches: z.array(z.string().trim().min(1)).default([]),
    /** Derive which patch goes where from the prioritised findings and the baselines; `patches` and `hosts` then narrow it. */
    fromFindings: findingsScopeSchema.optional(),
    hosts: z
      .array(
        z
          .string()
          .trim()
          .min(1)
          .transform((h) => h.toLowerCase()),
      )
      .default([]),
    /** Who prepared the change, when not the requester; neither may approve it. */
    author: userIdSchema.optional(),
    /** The maintenance window: approvals may come at once, deployment waits for its start. */
    window: z
      .object({ start: z.iso.datetime({ offset: true }), end: z.iso.datetime({ offset: true }) })
      .refine((w) => Date.parse(w.end) > Date.parse(w.start), {
        message: 'the window must end after it starts',
        path: ['end'],
      })
      .optional(),
    rollbackPlan: z.string().trim().min(1).max(2000).optional(),
    policy: z
      .object({
        approval: z
          .object({
            quorum: z.number().int().min(1).max(20),
            timeout: z.string(),
            remindEvery: z.string(),
            maxReminders: z.number().int(),
            approverGroups: z.array(z.string()),
            escalateAfter: z.string(),
            escalationGroups: z.array(z.string()),
          })
          .partial()
          .optional(),
        /** Any deployment policy field (rings, windows, failureBudget, …); checked whole once merged over the settings. */
        deployment: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.demo && !v.fromFindings && v.patches.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['patches'],
        message: 'name at least one patch id (or use demo or fromFindings)',
      });
  });
export type StartCycleRequest = z.input<typeof startCycleSchema>;

export const approveSchema = z
  .object({
    comment: z.string().max(2000).optional(),
    channel: channelSchema.default('rest'),
    notBefore: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export const rejectSchema = z
  .object({
    reason: z.string().trim().min(1, 'a rejection needs a reason').max(2000),
    channel: channelSchema.default('rest'),
  })
  .strict();

export const withdrawSchema = z
  .object({
    reason: z.string().trim().max(2000).optional(),
    channel: channelSchema.default('rest'),
  })
  .strict();

function newCycleId(now = new Date()): string {
  return `cyc-${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

export interface ResolvedCycleRequest {
  req: z.output<typeof startCycleSchema>;
  requester: string;
  patchIds: string[];
  hostnames: string[];
  policy: CyclePolicy;
  /** The effective policy as approvers read it, with every field the request changed. */
  policyNotes: PolicyNotes;
  /** The fields an admin's request loosened (anyone else's request is refused). */
  loosened: PolicyChange[];
  /** Set when the scope came from the findings: the asset × patch pairs, their deadlines and why. */
  findings: FindingsScope | undefined;
}

/**
 * Validates a cycle request and resolves who, what and under which policy, without writing
 * anything: shared by start and the dry-run plan. `demoSeeded` says the demo patch is on record.
 */
export async function resolveCycleRequest(
  ctx: AppContext,
  principal: Principal,
  action: 'cycle.start' | 'cycle.plan',
  body: unknown,
  demoSeeded: boolean,
): Promise<ResolvedCycleRequest> {
  await authorize(ctx.db, principal, action, { type: 'cycle', id: 'new' });
  const req = parseInput(startCycleSchema, body, 'cycle request');
  const requester = principal.userId;
  const findings = req.fromFindings
    ? await scopeFromFindings(ctx.db, req.fromFindings, { patchIds: req.patches, hostnames: req.hosts })
    : undefined;
  const patchIds = findings
    ? [...new Set(findings.targets.map((t) => t.patchId))]
    : req.demo
      ? [...new Set([DEMO_PATCH.id, ...req.patches])]
      : req.patches;
  const known = new Set(
    ((await ctx.db('patches').whereIn('id', patchIds).select('id')) as { id: string }[]).map((r) => r.id),
  );
  if (req.demo && !demoSeeded) known.add(DEMO_PATCH.id);
  const unknownIndex = patchIds.findIndex((p) => !known.has(p));
  if (unknownIndex >= 0)
    throw new InputError(`unknown patch "${patchIds[unknownIndex]}"`, [
      { path: ['patches', unknownIndex], message: 'unknown patch id' },
    ]);
  const hostnames = findings
    ? [...new Set(findings.targets.map((t) => t.hostname))]
    : req.hosts.length
      ? req.hosts
      : req.demo
        ? demoAssets.map((a) => a.hostname)
        : [];
  const policy = parseInput(
    cyclePolicySchema,
    {
      approval: { ...ctx.settings.policy.approval, ...req.policy?.approval },
      deployment: { ...ctx.settings.policy.deployment, ...req.policy?.deployment },
    },
    'cycle policy',
  );
  const changes = policyChanges(ctx.settings.policy, policy);
  const refusal = loosenedFieldsRefusal(changes);
  if (refusal && !principal.scopes.includes('admin'))
    await refuse(ctx.db, principal, action, { type: 'cycle', id: 'new' }, refusal.message, refusal.details);
  const loosened = changes.filter((c) => c.effect === 'loosens');
  return { req, requester, patchIds, hostnames, policy, policyNotes: policyNotes(policy, changes), loosened, findings };
}

/** Starts a cycle: validates, records it and starts its workflow in one step; a failure leaves nothing behind. */
export async function startCycle(ctx: AppContext, principal: Principal, body: unknown): Promise<CycleDetail> {
  const demo = startCycleSchema.safeParse(body).data?.demo === true;
  if (demo) {
    ensureDemoFleet(ctx.settings.dataDir);
    await seedDemoRecords(ctx.db);
  }
  const { req, requester, patchIds, hostnames, policy, policyNotes, loosened, findings } = await resolveCycleRequest(
    ctx,
    principal,
    'cycle.start',
    body,
    true,
  );
  const id = newCycleId();
  const request = {
    name: req.name ?? (req.demo ? 'Demo patch cycle' : `Patch cycle ${id}`),
    requester,
    patchIds,
    hostnames,
    ...(findings
      ? { targets: findings.targets.map((t) => ({ hostname: t.hostname, patchId: t.patchId, dueAt: t.dueAt })) }
      : {}),
    ...(req.author ? { author: req.author } : {}),
    ...(req.window ? { window: req.window } : {}),
    ...(req.rollbackPlan ? { rollbackPlan: req.rollbackPlan } : {}),
    policyNotes,
  };
  await ctx.db.transaction(async (trx) => {
    await insertCycle(trx, { id, request, policy, workflowId: cycleWorkflowId(id) });
    await appendAudit(trx, {
      actor: requester,
      action: 'cycle.requested',
      subjectType: 'cycle',
      subjectId: id,
      data: { ...request, policy },
    });
    // Only an admin gets here with a loosened policy: that is a policy change, recorded as one.
    if (loosened.length)
      await appendAudit(trx, {
        actor: requester,
        action: 'policy.loosened',
        subjectType: 'cycle',
        subjectId: id,
        data: { changes: loosened.map(describeChange) },
      });
    // Started inside the transaction: if Temporal refuses, the cycle row is rolled back too.
    await ctx.temporal.workflow.start('patchCycleWorkflow', {
      taskQueue: ctx.settings.temporal.taskQueue,
      workflowId: cycleWorkflowId(id),
      args: [{ cycleId: id, requester, policy, timeouts: ctx.settings.temporal.timeouts }],
    });
  });
  return cycleDetail(ctx.db, id);
}

export async function approveCycle(
  ctx: AppContext,
  principal: Principal,
  id: string,
  body: unknown,
): Promise<ApprovalState> {
  return decide(
    ctx,
    principal,
    id,
    'change.approve',
    () => ({ ...parseInput(approveSchema, body, 'approval'), by: principal.userId }),
    (handle, args) => handle.executeUpdate(approveChangeUpdate, { args: [args] }),
  );
}

export async function rejectCycle(
  ctx: AppContext,
  principal: Principal,
  id: string,
  body: unknown,
): Promise<ApprovalState> {
  return decide(
    ctx,
    principal,
    id,
    'change.reject',
    () => ({ ...parseInput(rejectSchema, body, 'rejection'), by: principal.userId }),
    (handle, args) => handle.executeUpdate(rejectChangeUpdate, { args: [args] }),
  );
}

/**
 * Authorizes `action` on cycle `id` unless the principal requested it (the requester's own rules
 * apply then). Anyone else who may not act is refused before learning whether the cycle exists.
 */
async function authorizeUnlessRequester(
  ctx: AppContext,
  principal: Principal,
  action: 'change.approve' | 'change.reject' | 'change.withdraw',
  id: string,
): Promise<void> {
  const row = (await ctx.db('cycles').where({ id }).first('requester')) as { requester: string } | undefined;
  if (row?.requester !== principal.userId) await authorize(ctx.db, principal, action, { type: 'cycle', id });
}

/**
 * Calls off a change still awaiting approval: its requester may, as may any coordinator. Nothing
 * is deployed; the cycle ends cancelled, with who withdrew it and why.
 */
export async function withdrawCycle(
  ctx: AppContext,
  principal: Principal,
  id: string,
  body: unknown,
): Promise<ApprovalState> {
  await authorizeUnlessRequester(ctx, principal, 'change.withdraw', id);
  const args = { ...parseInput(withdrawSchema, body, 'withdrawal'), by: principal.userId };
  const cycle = await getCycle(ctx.db, id);
  if (cycle.phase !== 'approval' || cycle.status !== 'awaiting_approval')
    throw new ConflictError(
      `cycle ${id} is not awaiting approval (phase ${cycle.phase}, status ${cycle.status}); an approved rollout is cancelled, not withdrawn`,
    );
  const state = await sendToGate(ctx, id, auditRefusal(ctx, principal.userId, 'change.withdraw', id), (handle) =>
    handle.executeUpdate(withdrawChangeUpdate, { args: [args] }),
  );
  await appendAudit(ctx.db, {
    actor: principal.userId,
    action: 'change.withdrawn',
    subjectType: 'cycle',
    subjectId: id,
    data: { reason: args.reason ?? null, channel: args.channel },
  });
  return state;
}

/**
 * A decision on a change: the caller is authorized first, then the body is parsed, then it goes to
 * the gate with who holds approver rights now (the gate stops counting anyone else).
 */
async function decide<A extends object>(
  ctx: AppContext,
  principal: Principal,
  id: string,
  action: 'change.approve' | 'change.reject',
  parse: () => A,
  send: (handle: GateHandle, args: A & { eligible: string[] }) => Promise<ApprovalState>,
): Promise<ApprovalState> {
  // The requester hears the gate's more telling reason, separation of duties, whatever their roles.
  await authorizeUnlessRequester(ctx, principal, action, id);
  const args = parse();
  const cycle = await getCycle(ctx.db, id);
  const pools = await approverPools(ctx.db, cycle.policy.approval);
  const eligible = [...new Set([...pools.approvers, ...pools.escalation, ...pools.emergency])].sort();
  const refused = auditRefusal(ctx, principal.userId, action, id);
  if (cycle.phase !== 'approval')
    throw new ConflictError(`cycle ${id} is not awaiting approval (phase ${cycle.phase}, status ${cycle.status})`);
  return sendToGate(ctx, id, refused, (handle) => send(handle, { ...args, eligible }));
}

type GateHandle = ReturnType<AppContext['temporal']['workflow']['getHandle']>;

/** Sends an Update to the cycle's CAB gate; the gate's refusal is audited and thrown as its error kind. */
async function sendToGate(
  ctx: AppContext,
  id: string,
  refused: (err: PatchflowError) => Promise<never>,
  send: (handle: GateHandle) => Promise<ApprovalState>,
): Promise<ApprovalState> {
  const handle = ctx.temporal.workflow.getHandle(approvalWorkflowId(id));
  // The cycle records the approval phase a moment before its gate starts, and the gate refuses
  // decisions until it has gathered the change request: both moments are waited out, not refused.
  const waitUntil = Date.now() + GATE_OPEN_WAIT_MS;
  for (;;) {
    try {
      return await send(handle);
    } catch (err) {
      const refusal = err instanceof WorkflowUpdateFailedError ? updateRefusal(err) : undefined;
      const early = err instanceof WorkflowNotFoundError || refusal instanceof NotReadyError;
      if (early && Date.now() < waitUntil) {
        await sleep(GATE_OPEN_POLL_MS);
        continue;
      }
      if (err instanceof WorkflowNotFoundError) throw new ConflictError(`cycle ${id} is not awaiting approval`);
      if (refusal) return refused(refusal);
      throw err;
    }
  }
}

/** An Update validator's refusal as the Patchflow error its failure type names, so every edge shows it alike. */
export function updateRefusal(err: WorkflowUpdateFailedError): PatchflowError {
  return errorFromFailure(
    err.cause instanceof ApplicationFailure ? err.cause.type : undefined,
    err.cause?.message ?? err.message,
  );
}

/** Generous for a busy machine: the gate normally opens within a second of the approval phase. */
const GATE_OPEN_WAIT_MS = 30_000;
const GATE_OPEN_POLL_MS = 250;

/** Refusals are part of the record auditors ask for: who tried what, and why it was refused. */
export function auditRefusal(ctx: AppContext, actor: string, action: string, subjectId: string) {
  return async (err: unknown): Promise<never> => {
    const message = err instanceof Error ? err.message : String(err);
    await appendAudit(ctx.db, {
      actor,
      action: `${action}.refused`,
      subjectType: 'cycle',
      subjectId,
      data: { reason: message },
    });
    throw err;
  };
}

export async function cycleStatus(ctx: AppContext, id: string): Promise<CycleDetail> {
  return cycleDetail(ctx.db, id);
}

export async function listCycleSummaries(ctx: AppContext) {
  return (await listCycles(ctx.db)).map((c) => ({
    id: c.id,
    name: c.name,
    status: c.status,
    terminal: isTerminalCycleStatus(c.status),
    phase: c.phase,
    requester: c.requester,
    createdAt: new Date(c.created_at).toISOString(),
  }));
}

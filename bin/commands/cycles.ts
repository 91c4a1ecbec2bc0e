import { setTimeout as sleep } from 'node:timers/promises';
import type { CyclePlan } from '../../app/plan.ts';
import type { CycleDetail } from '../../db/repositories/cycles.ts';
import { isTerminalCycleStatus } from '../../workflows/cycle-states.ts';
import type { ApprovalState } from '../../workflows/types.ts';
import { actLocallyByDefaultAs, apiRequest } from '../api.ts';
import { printJsonOr, requireOption, requirePositional } from './args.ts';
import type { CliCommand, CliValues } from './types.ts';

export function renderCycle(d: CycleDetail): string {
  const c = d.cycle;
  const lines = [
    `${c.id}  ${c.name}`,
    `  status ${c.status} · phase ${c.phase} · requested by ${c.requester} at ${c.createdAt}${c.completedAt ? ` · finished ${c.completedAt}` : ''}`,
  ];
  if (typeof c.summary['reason'] === 'string') lines.push(`  reason: ${c.summary['reason']}`);
  if (c.policyNotes)
    lines.push(
      `  policy: ${c.policyNotes.summary}`,
      ...c.policyNotes.changes.map((change) => `    differs from the configured policy: ${change}`),
    );
  for (const a of d.approvals)
    lines.push(
      `  ${a.by} ${a.decision === 'approve' ? 'approved' : 'rejected'} via ${a.channel}${a.reason ? `: ${a.reason}` : ''}`,
    );
  if (d.stagingChecks.length) {
    lines.push(
      `  staging checks: ${d.stagingChecks.filter((x) => x.passed).length} of ${d.stagingChecks.length} passed`,
    );
    for (const x of d.stagingChecks)
      lines.push(`    ${x.passed ? 'passed' : 'FAILED'}  ${x.name} (${x.kind}) on ${x.hostname}: ${x.detail}`);
  }
  for (const r of d.rings) {
    lines.push(`  ring ${r.ring}`);
    for (const h of r.hosts) {
      const verified = h.verified === null ? '' : h.verified ? ' · verified' : ' · NOT verified';
      lines.push(
        `    ${h.hostname.padEnd(14)} ${h.status.padEnd(18)} ${String(h.attempts).padStart(2)} attempt(s)${verified}  ${h.message}`,
      );
    }
  }
  return lines.join('\n');
}

/** What `cycle start` and `cycle plan` share: who asks, which patches on which hosts, or a scope derived from the findings. */
const scopeOptions = {
  demo: { type: 'boolean' },
  patch: { type: 'string', multiple: true },
  host: { type: 'string', multiple: true },
  'from-findings': { type: 'boolean' },
  view: { type: 'string' },
  'min-score': { type: 'string' },
  json: { type: 'boolean' },
} as const;
const fromFindingsUsage = '[--from-findings [--view all|overdue|due-soon] [--min-score <0-100>]]';

/** The demo's coordinator: `cycle start --demo` without --as or a token requests it as carol, as the README shows. */
const DEMO_COORDINATOR = 'carol';
function actAsDemoCoordinator(values: CliValues): void {
  if (values['demo'] === true) actLocallyByDefaultAs(DEMO_COORDINATOR);
}

function scopeBody(values: CliValues) {
  const fromFindings =
    values['from-findings'] === true
      ? {
          ...(values['view'] === undefined ? {} : { view: values['view'] }),
          ...(values['min-score'] === undefined ? {} : { minScore: Number(values['min-score']) }),
        }
      : undefined;
  return {
    demo: values['demo'] === true,
    patches: values['patch'] ?? [],
    hosts: values['host'] ?? [],
    ...(fromFindings ? { fromFindings } : {}),
  };
}

export const cycleCommands: CliCommand[] = [
  {
    path: ['cycle', 'start'],
    summary: 'start a patch cycle (--demo patches the bundled demo fleet with real ansible-playbook runs)',
    usage: `[--demo] [--patch <id>]… [--host <hostname>]… ${fromFindingsUsage} [--name <text>] [--json]`,
    options: { ...scopeOptions, name: { type: 'string' } },
    async run({ values }) {
      actAsDemoCoordinator(values);
      const body = { ...scopeBody(values), name: values['name'] };
      const detail = await apiRequest<CycleDetail>('POST', '/api/cycles', body);
      printJsonOr(
        values,
        detail,
        () =>
          `${renderCycle(detail)}\n\nfollow it:  npx patchflow cycle status ${detail.cycle.id} --watch\napprove it: npx patchflow cycle approve ${detail.cycle.id} --as <approver>`,
      );
      return 0;
    },
  },
  {
    path: ['cycle', 'plan'],
    summary: 'dry run: what a cycle would patch where, in which ring and window, who must approve; nothing is written',
    usage: `[--demo] [--patch <id>]… [--host <hostname>]… ${fromFindingsUsage} [--json]`,
    options: scopeOptions,
    async run({ values }) {
      actAsDemoCoordinator(values);
      const body = scopeBody(values);
      const plan = await apiRequest<CyclePlan>('POST', '/api/cycles/plan', body);
      printJsonOr(values, plan, () => renderPlan(plan));
      return 0;
    },
  },
  {
    path: ['cycle', 'status'],
    summary: 'show a cycle with per-phase and per-host results (--watch follows it live)',
    usage: '<id> [--watch] [--json]',
    options: { watch: { type: 'boolean' }, json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'id');
      let last = '';
      for (;;) {
        const detail = await apiRequest<CycleDetail>('GET', `/api/cycles/${encodeURIComponent(id)}`);
        const text = values['json'] ? JSON.stringify(detail, null, 2) : renderCycle(detail);
        if (text !== last) process.stdout.write(`${values['watch'] && last ? '\n' : ''}${text}\n`);
        last = text;
        if (!values['watch'] || isTerminalCycleStatus(detail.cycle.status)) return 0;
        await sleep(1000);
      }
    },
  },
  {
    path: ['cycle', 'list'],
    summary: 'list recent cycles',
    usage: '[--json]',
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const { cycles } = await apiRequest<{
        cycles: { id: string; name: string; status: string; phase: string; requester: string; createdAt: string }[];
      }>('GET', '/api/cycles');
      printJsonOr(values, cycles, () =>
        cycles.length
          ? cycles
              .map((c) => `${c.id}  ${c.status.padEnd(22)} ${c.phase.padEnd(13)} ${c.requester.padEnd(10)} ${c.name}`)
              .join('\n')
          : 'no cycles yet; start one with: npx patchflow cycle start --demo',
      );
      return 0;
    },
  },
  {
    path: ['cycle', 'approve'],
    summary: 'approve a change awaiting CAB approval (--not-before: approve now, deploy from that time)',
    usage: '<id> [--as <local approver>] [--comment <text>] [--not-before <ISO time>] [--json]',
    options: {
      comment: { type: 'string' },
      'not-before': { type: 'string' },
      json: { type: 'boolean' },
    },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'id');
      const body = {
        comment: values['comment'],
        notBefore: values['not-before'],
        channel: 'cli',
      };
      const state = await apiRequest<ApprovalState>('POST', `/api/cycles/${encodeURIComponent(id)}/approve`, body);
      printJsonOr(values, state, () => describeApproval(state));
      return 0;
    },
  },
  {
    path: ['cycle', 'reject'],
    summary: 'reject a change awaiting CAB approval',
    usage: '<id> --reason <text> [--as <local approver>] [--json]',
    options: { reason: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'id');
      const state = await apiRequest<ApprovalState>('POST', `/api/cycles/${encodeURIComponent(id)}/reject`, {
        reason: requireOption(values, 'reason'),
        channel: 'cli',
      });
      printJsonOr(values, state, () => describeApproval(state));
      return 0;
    },
  },
  {
    path: ['cycle', 'withdraw'],
    summary: 'call off a change still awaiting approval (its requester, or a coordinator)',
    usage: '<id> [--reason <text>] [--json]',
    options: { reason: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values, positionals }) {
      const id = requirePositional(positionals, 0, 'id');
      const state = await apiRequest<ApprovalState>('POST', `/api/cycles/${encodeURIComponent(id)}/withdraw`, {
        ...(typeof values['reason'] === 'string' ? { reason: values['reason'] } : {}),
        channel: 'cli',
      });
      printJsonOr(values, state, () => describeApproval(state));
      return 0;
    },
  },
];

/** Hosts listed by name up to this many per ring; beyond it the ring is summarised. */
const PLAN_HOSTS_SHOWN = 8;
/** Asset × patch lines the text plan prints; --json has them all. */
const PLAN_PAIRS_SHOWN = 25;

export function renderPlan(p: CyclePlan): string {
  const lines = [
    `dry run for ${p.requester}: ${p.patches.map((x) => `${x.id} (${x.title})`).join(', ')}`,
    `  staging: ${p.staging.note}`,
  ];
  // Only worth a line when routing sends some hosts to another deployer.
  if (Object.keys(p.deployers).length > 1)
    lines.push(
      `  deployers: ${Object.entries(p.deployers)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, n]) => `${id} ${n} host(s)`)
        .join(', ')}`,
    );
  for (const r of p.rings) {
    if (!r.hosts.length) {
      lines.push(`  ring ${r.order} ${r.ring}: no hosts`);
      continue;
    }
    const names =
      r.hosts
        .slice(0, PLAN_HOSTS_SHOWN)
        .map((h) => h.hostname)
        .join(', ') + (r.hosts.length > PLAN_HOSTS_SHOWN ? `, … ${r.hosts.length - PLAN_HOSTS_SHOWN} more` : '');
    lines.push(
      `  ring ${r.order} ${r.ring}: ${r.hosts.length} host(s) in ${r.batches} batch(es) of up to ${r.maxConcurrency}, halts over ${r.errorThreshold} failed`,
    );
    lines.push(`    hosts: ${names}`);
    lines.push(
      `    ${r.windows.length ? `window(s): ${r.windows.join('; ')}` : `estimated ${r.startsAt} → ${r.endsAt}`}`,
    );
  }
  lines.push(`  approvals: ${p.approvals.note}`);
  const rollback =
    [
      p.policy.rollback.failedRing ? 'a failed ring' : '',
      p.policy.rollback.completedRings ? 'completed rings on a global failure' : '',
    ]
      .filter(Boolean)
      .join(' and ') || 'nothing';
  const soak = /^0[a-z]+$/.test(p.policy.soak)
    ? 'no soak'
    : `soak ${p.policy.soak}${p.policy.healthCheck ? ' then health check' : ''}`;
  lines.push(
    `  safety: failure budget ${p.policy.failureBudget}; ${soak} between rings; backup ${p.policy.backup ? 'before patching' : 'off'}; rolls back ${rollback}; reboot ${p.policy.reboot}`,
  );
  lines.push(`  schedule: ${p.schedule.note} (estimated ${p.schedule.estimatedStart} → ${p.schedule.estimatedEnd})`);
  if (p.findings) {
    lines.push(`  scope from the findings: ${p.findings.targets.length} asset × patch pair(s), highest risk first`);
    for (const t of p.findings.targets.slice(0, PLAN_PAIRS_SHOWN)) {
      lines.push(
        `    ${t.hostname.padEnd(14)} ${t.patchId.padEnd(16)} ring ${t.ring.padEnd(9)} risk ${String(t.score).padStart(3)}  due ${t.dueAt ?? 'no deadline'}`,
      );
      lines.push(`      ${t.why}`);
    }
    if (p.findings.targets.length > PLAN_PAIRS_SHOWN)
      lines.push(`    … ${p.findings.targets.length - PLAN_PAIRS_SHOWN} more (--json lists them all)`);
    for (const [patchId, reason] of Object.entries(p.findings.approvedBy)) lines.push(`    ${patchId}: ${reason}`);
    for (const h of p.findings.heldBack) lines.push(`  held back: ${h.patchId} on ${h.hosts} host(s): ${h.reason}`);
    for (const a of p.findings.unmapped)
      lines.push(
        `  not patched: ${a.hostname} (${a.osName ?? 'no OS name'}) maps to no product; ${a.findings} open finding(s) wait for its OS name`,
      );
  }
  return lines.join('\n');
}

function describeApproval(s: ApprovalState): string {
  const approvals = s.decisions.filter((d) => d.decision === 'approve').length;
  return `change for ${s.cycleId}: ${s.outcome} (${approvals} of ${s.quorum} approvals)`;
}

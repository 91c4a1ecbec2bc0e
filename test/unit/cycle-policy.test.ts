import { describe, expect, it } from 'vitest';
import { cyclePolicySchema } from '../../app/cycle-policy.ts';

const issuesOf = (input: unknown) => {
  const parsed = cyclePolicySchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('cycle policy: reminders are bounded', () => {
  it('refuses reminders without a pause, naming the field', () => {
    expect(issuesOf({ approval: { remindEvery: '0s' } })).toEqual([
      'approval.remindEvery: at least 1s: reminders without a pause would flood the channel',
    ]);
    expect(issuesOf({ approval: { remindEvery: '500ms' } })).toHaveLength(1);
  });

  it('caps the number of reminders at 100 and defaults to 12', () => {
    expect(issuesOf({ approval: { maxReminders: 101 } })).toEqual([
      'approval.maxReminders: Too big: expected number to be <=100',
    ]);
    expect(cyclePolicySchema.parse({}).approval.maxReminders).toBe(12);
  });
});

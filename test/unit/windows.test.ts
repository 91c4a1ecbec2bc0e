import { describe, expect, it } from 'vitest';
import { describeSlot, nextSlot, zonedTimeToInstant } from '../../workflows/windows.ts';
import type { MaintenanceWindows } from '../../workflows/types.ts';

const berlin: MaintenanceWindows = {
  timezone: 'Europe/Berlin',
  weekly: [{ days: ['sat'], start: '22:00', duration: '4h' }],
  cutoff: '30m',
  blackoutDates: [],
};
const at = (iso: string) => Date.parse(iso);

describe('maintenance windows', () => {
  it('converts local wall-clock time in a zone, across daylight saving time', () => {
    expect(
      new Date(zonedTimeToInstant({ y: 2026, mo: 7, d: 4, h: 22, mi: 0, s: 0 }, 'Europe/Berlin')).toISOString(),
    ).toBe('2026-07-04T20:00:00.000Z');
    expect(
      new Date(zonedTimeToInstant({ y: 2026, mo: 12, d: 5, h: 22, mi: 0, s: 0 }, 'Europe/Berlin')).toISOString(),
    ).toBe('2026-12-05T21:00:00.000Z');
    expect(
      new Date(zonedTimeToInstant({ y: 2026, mo: 11, d: 28, h: 9, mi: 30, s: 0 }, 'America/New_York')).toISOString(),
    ).toBe('2026-11-28T14:30:00.000Z');
  });

  it('waits for the next window when outside one', () => {
    // Monday 2026-11-23: the next Saturday 22:00 in Berlin (UTC+1) is 21:00 UTC on the 28th.
    const slot = nextSlot(berlin, at('2026-11-23T10:00:00Z'), 60 * 60_000)!;
    expect(new Date(slot.startsAt).toISOString()).toBe('2026-11-28T21:00:00.000Z');
    expect(new Date(slot.cutoffAt).toISOString()).toBe('2026-11-29T00:30:00.000Z');
    expect(describeSlot(slot, berlin.timezone)).toBe('2026-11-28 22:00:00–02:00:00 Europe/Berlin (cutoff 01:30:00)');
  });

  it('starts at once inside a window, and only when the work fits before the cutoff', () => {
    const inside = at('2026-11-28T23:00:00Z'); // Sunday 00:00 local, two hours left, cutoff in 1h30
    expect(nextSlot(berlin, inside, 60 * 60_000)?.startsAt).toBe(inside);
    // Two hours of work does not fit before the cutoff: the window a week later.
    expect(new Date(nextSlot(berlin, inside, 2 * 60 * 60_000)!.startsAt).toISOString()).toBe(
      '2026-12-05T21:00:00.000Z',
    );
  });

  it('passes over blackout dates, named in the local calendar', () => {
    const slot = nextSlot({ ...berlin, blackoutDates: ['2026-11-28'] }, at('2026-11-23T10:00:00Z'), 60_000)!;
    expect(new Date(slot.windowStart).toISOString()).toBe('2026-12-05T21:00:00.000Z');
  });

  it('picks the earliest of several weekly windows and says when none ever fits', () => {
    const two: MaintenanceWindows = {
      ...berlin,
      weekly: [...berlin.weekly, { days: ['tue', 'thu'], start: '02:00:30', duration: '1h' }],
    };
    expect(new Date(nextSlot(two, at('2026-11-23T10:00:00Z'), 60_000)!.startsAt).toISOString()).toBe(
      '2026-11-24T01:00:30.000Z',
    );
    expect(nextSlot(berlin, at('2026-11-23T10:00:00Z'), 5 * 60 * 60_000)).toBeNull();
  });
});

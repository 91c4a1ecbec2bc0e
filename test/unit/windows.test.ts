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

  describe('across daylight-saving changes, a window never opens before its local time', () => {
    const sunday = (timezone: string, start: string): MaintenanceWindows => ({
      timezone,
      weekly: [{ days: ['sun'], start, duration: '4h' }],
      cutoff: '0s',
      blackoutDates: [],
    });
    const opens = (w: MaintenanceWindows, from: string) =>
      new Date(nextSlot(w, at(from), 60_000)!.windowStart).toISOString();

    it.each([
      // Spring forward: the local time is skipped, so the window opens when the clocks reach it.
      ['America/New_York', '02:00', '2026-03-07T12:00:00Z', '2026-03-08T07:00:00.000Z'], // 03:00 EDT, not 01:00 EST
      ['America/New_York', '02:30', '2026-03-07T12:00:00Z', '2026-03-08T07:30:00.000Z'], // 03:30 EDT
      ['Europe/Berlin', '02:30', '2026-03-28T12:00:00Z', '2026-03-29T01:30:00.000Z'], // 03:30 CEST
      ['Australia/Lord_Howe', '02:15', '2026-10-03T00:00:00Z', '2026-10-03T15:45:00.000Z'], // 02:45 (+11), a 30-minute shift
      // Fall back: the local time comes twice; the window opens at the first.
      ['America/New_York', '01:30', '2026-10-31T12:00:00Z', '2026-11-01T05:30:00.000Z'], // 01:30 EDT
      ['Europe/Berlin', '02:30', '2026-10-24T12:00:00Z', '2026-10-25T00:30:00.000Z'], // 02:30 CEST
      ['Australia/Sydney', '02:30', '2026-04-04T00:00:00Z', '2026-04-04T15:30:00.000Z'], // 02:30 AEDT
      // Ordinary days either side keep their offsets.
      ['America/New_York', '02:00', '2026-03-14T12:00:00Z', '2026-03-15T06:00:00.000Z'],
      ['Europe/Berlin', '02:30', '2026-03-21T12:00:00Z', '2026-03-22T01:30:00.000Z'],
    ])('%s sun %s, looking from %s, opens at %s', (zone, start, from, expected) => {
      expect(opens(sunday(zone, start), from)).toBe(expected);
    });

    it('reads the opening back as the local time it names (or the first moment after a gap)', () => {
      const slot = nextSlot(sunday('America/New_York', '02:00'), at('2026-03-07T12:00:00Z'), 60_000)!;
      expect(describeSlot(slot, 'America/New_York')).toBe(
        '2026-03-08 03:00:00–07:00:00 America/New_York (cutoff 07:00:00)',
      );
    });
  });
});

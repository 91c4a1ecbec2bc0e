/**
 * Maintenance windows as pure functions of an instant, so that the deployment workflow (with its
 * deterministic Date) and the dry-run planner compute the same slots. Zone rules come from
 * @date-fns/tz (the runtime's own tz database, through Intl), which works in workflow code.
 */
import { TZDate } from '@date-fns/tz';
import { durationToMs } from './time.ts';
import type { MaintenanceWindows, Weekday } from './types.ts';

const weekdays: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_MS = 86_400_000;
/** Far enough ahead to step over a year of blackout dates; beyond it the windows never open. */
const SEARCH_DAYS = 400;

export interface WindowSlot {
  /** When the work may start: now, or the opening of a later window. */
  startsAt: number;
  windowStart: number;
  windowEnd: number;
  /** The last moment work may still be running: the window's end less the cutoff. */
  cutoffAt: number;
}

interface WallClock {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

/** The wall-clock fields of an instant in a zone. */
function localParts(ms: number, timeZone: string): WallClock {
  const t = new TZDate(ms, timeZone);
  return {
    y: t.getFullYear(),
    mo: t.getMonth() + 1,
    d: t.getDate(),
    h: t.getHours(),
    mi: t.getMinutes(),
    s: t.getSeconds(),
  };
}

const sameWallClock = (a: WallClock, b: WallClock) =>
  a.y === b.y && a.mo === b.mo && a.d === b.d && a.h === b.h && a.mi === b.mi && a.s === b.s;

/** Daylight-saving shifts in use (Lord Howe's 30 minutes, the usual hour, Troll's two hours), smallest first. */
const DST_SHIFTS_MS = [30, 60, 120].map((m) => m * 60_000);

/**
 * The instant a local wall-clock time names in a zone. A time the clocks skip (02:30 on a spring-
 * forward night) is the moment the clocks reach it (03:30 new time), never earlier; a time they
 * pass twice (01:30 on a fall-back night) is its first occurrence.
 */
export function zonedTimeToInstant(local: WallClock, timeZone: string): number {
  const at = +new TZDate(local.y, local.mo - 1, local.d, local.h, local.mi, local.s, timeZone);
  const earlier = DST_SHIFTS_MS.map((shift) => at - shift).filter((t) => sameWallClock(localParts(t, timeZone), local));
  return earlier.length ? Math.min(...earlier) : at;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

function parseClock(text: string): { h: number; mi: number; s: number } {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) throw new TypeError(`not a time of day: ${text}`);
  return { h: Number(m[1]), mi: Number(m[2]), s: Number(m[3] ?? 0) };
}

const isoDate = (y: number, mo: number, d: number) =>
  `${y}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;

/**
 * The earliest slot at or after `now` in which work of `needMs` finishes before the window's
 * cutoff; windows on blackout dates are passed over. Null when no window in the next year fits.
 */
export function nextSlot(policy: MaintenanceWindows, now: number, needMs: number): WindowSlot | null {
  const cutoffMs = durationToMs(policy.cutoff);
  const blackout = new Set(policy.blackoutDates);
  const today = localParts(now, policy.timezone);
  // From yesterday: a window that opened yesterday evening may still be open now.
  for (let offset = -1; offset <= SEARCH_DAYS; offset++) {
    const day = new Date(Date.UTC(today.y, today.mo - 1, today.d) + offset * DAY_MS);
    const date = { y: day.getUTCFullYear(), mo: day.getUTCMonth() + 1, d: day.getUTCDate() };
    if (blackout.has(isoDate(date.y, date.mo, date.d))) continue;
    const weekday = weekdays[day.getUTCDay()]!;
    const slots = policy.weekly
      .filter((w) => w.days.includes(weekday))
      .map((w) => {
        const windowStart = zonedTimeToInstant({ ...date, ...parseClock(w.start) }, policy.timezone);
        const windowEnd = windowStart + durationToMs(w.duration);
        return { startsAt: Math.max(now, windowStart), windowStart, windowEnd, cutoffAt: windowEnd - cutoffMs };
      })
      .filter((s) => s.startsAt + needMs <= s.cutoffAt)
      .sort((a, b) => a.startsAt - b.startsAt);
    if (slots[0]) return slots[0];
  }
  return null;
}

/** How a slot reads in the policy's zone, for notes and the dry-run plan. */
export function describeSlot(slot: WindowSlot, timeZone: string): string {
  const at = (ms: number) => {
    const p = localParts(ms, timeZone);
    return `${isoDate(p.y, p.mo, p.d)} ${String(p.h).padStart(2, '0')}:${String(p.mi).padStart(2, '0')}:${String(p.s).padStart(2, '0')}`;
  };
  return `${at(slot.windowStart)}–${at(slot.windowEnd).slice(11)} ${timeZone} (cutoff ${at(slot.cutoffAt).slice(11)})`;
}

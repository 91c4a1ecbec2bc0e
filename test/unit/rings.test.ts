import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { breaksLimit, exceeds } from '../../workflows/rings.ts';

const counts = fc
  .record({ population: fc.integer({ min: 1, max: 5000 }), a: fc.nat(), f: fc.nat() })
  .map(({ population, a, f }) => {
    const attempted = a % (population + 1);
    return { population, attempted, failed: attempted === 0 ? 0 : f % (attempted + 1) };
  });
const percent = fc.integer({ min: 0, max: 100 }).map((p) => ({ percent: p }));

describe('failure limits over the hosts attempted', () => {
  it('a 1,000-host ring at 20 % halts once 10 hosts tried show it, not after 200 failures', () => {
    const limit = { percent: 20 };
    expect(breaksLimit(limit, { failed: 3, attempted: 10, population: 1000 }, 10)).toBe(true);
    expect(exceeds(limit, 3, 1000)).toBe(false);
    // Before the sample is complete, only what the whole ring would have shown stops it.
    expect(breaksLimit(limit, { failed: 3, attempted: 5, population: 1000 }, 10)).toBe(false);
    expect(breaksLimit(limit, { failed: 2, attempted: 10, population: 1000 }, 10)).toBe(false);
  });

  it('never lets through what the whole-ring measure would have stopped', () => {
    fc.assert(
      fc.property(percent, counts, fc.integer({ min: 1, max: 100 }), (limit, c, minSample) => {
        if (exceeds(limit, c.failed, c.population)) expect(breaksLimit(limit, c, minSample)).toBe(true);
      }),
    );
  });

  it('once the sample is complete, judges exactly the share of hosts attempted', () => {
    fc.assert(
      fc.property(percent, counts, fc.integer({ min: 1, max: 100 }), (limit, c, minSample) => {
        fc.pre(c.attempted >= Math.min(minSample, c.population) && c.attempted > 0);
        expect(breaksLimit(limit, c, minSample)).toBe((c.failed / c.attempted) * 100 > limit.percent);
      }),
    );
  });

  it('a count limit is absolute', () => {
    expect(breaksLimit({ count: 2 }, { failed: 3, attempted: 3, population: 1000 }, 10)).toBe(true);
    expect(breaksLimit({ count: 2 }, { failed: 2, attempted: 2, population: 3 }, 10)).toBe(false);
  });
});

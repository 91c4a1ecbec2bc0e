import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InventorySource } from '../../integrations/contract/index.ts';

export interface ExpectedAsset {
  hostname: string;
  ips?: string[];
  /** The group the source files the host under, when it has one. */
  patchGroup?: string;
}

export interface InventorySourceHarness {
  inventory: InventorySource;
  /** Every host the source knows, as the test seeded it. */
  expected: ExpectedAsset[];
  close(): Promise<void>;
}

/** The InventorySource contract: every known host exactly once, with plain-data fields a database row can hold. */
export function describeInventorySourceContract(name: string, setup: () => Promise<InventorySourceHarness>): void {
  describe(`InventorySource contract: ${name}`, () => {
    let h: InventorySourceHarness;
    beforeEach(async () => {
      h = await setup();
      expect(h.expected.length).toBeGreaterThan(0);
    });
    afterEach(async () => h.close());

    it('lists every known host exactly once', async () => {
      const assets = await h.inventory.listAssets();
      const names = assets.map((a) => a.hostname.toLowerCase());
      expect(new Set(names).size).toBe(names.length);
      expect(names.sort()).toEqual(h.expected.map((e) => e.hostname.toLowerCase()).sort());
    });

    it('describes each host with plain data: addresses, group, tags and vars', async () => {
      const assets = await h.inventory.listAssets();
      for (const e of h.expected) {
        const a = assets.find((x) => x.hostname.toLowerCase() === e.hostname.toLowerCase())!;
        expect(a.hostname.trim()).not.toBe('');
        expect(Array.isArray(a.ips)).toBe(true);
        expect(Array.isArray(a.tags)).toBe(true);
        expect(a.vars).toEqual(JSON.parse(JSON.stringify(a.vars)));
        if (e.ips) expect(a.ips).toEqual(e.ips);
        if (e.patchGroup) expect(a.patchGroup).toBe(e.patchGroup);
      }
    });

    it('returns the same hosts when asked twice', async () => {
      const first = await h.inventory.listAssets();
      const second = await h.inventory.listAssets();
      expect(second.map((a) => a.hostname).sort()).toEqual(first.map((a) => a.hostname).sort());
    });
  });
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAssetQuery } from '../../db/repositories/asset-query.ts';
import { assetInputSchema, listAssets, upsertAssets } from '../../db/repositories/assets.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('asset query language', () => {
  describe('parsing', () => {
    it('builds and/or/not trees with "and" binding tighter than "or"', () => {
      expect(parseAssetQuery('platform=windows or tier<=2 and exposure=internet')).toEqual({
        kind: 'or',
        items: [
          { kind: 'compare', field: 'platform', op: '=', value: 'windows' },
          {
            kind: 'and',
            items: [
              { kind: 'compare', field: 'tier', op: '<=', value: '2' },
              { kind: 'compare', field: 'exposure', op: '=', value: 'internet' },
            ],
          },
        ],
      });
      expect(parseAssetQuery('not (patchGroup = "stage one")')).toEqual({
        kind: 'not',
        item: { kind: 'compare', field: 'patch_group', op: '=', value: 'stage one' },
      });
    });

    it.each([
      ['tier<=', 7, /expected a value after "<="/],
      ['tier<=two', 7, /whole number/],
      ['color=red', 1, /unknown field "color"/],
      ['hostname<web', 9, /operator < does not apply to hostname/],
      ['exposure=internt', 10, /one of internet, internal, isolated/],
      ['platform=windows tag=pci', 18, /expected "and", "or" or the end/],
      ['(tier=1 or tier=2', 18, /expected "\)" to close the "\(" at column 1/],
      ['owner="bob', 7, /unterminated quoted string/],
      ['hostname=web;drop table assets', 13, /unexpected character ";"/],
      ['', 1, /expected a field name, found the end of the query/],
      [`${'('.repeat(40)}tier=1${')'.repeat(40)}`, 34, /nested deeper than/],
    ])('refuses %j at column %i', (text, column, message) => {
      let thrown: unknown;
      try {
        parseAssetQuery(text);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toMatchObject({ name: 'InputError', details: [{ path: ['query'] }] });
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).toContain(`at column ${column}:`);
    });
  });

  describe('evaluation', () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await createTestDatabase();
      await upsertAssets(
        t.db,
        [
          {
            hostname: 'web-01',
            platform: 'Linux',
            criticality: 1,
            exposure: 'internet',
            patchGroup: 'staging',
            tags: ['pci'],
            ips: ['10.0.0.1'],
          },
          {
            hostname: 'web-02',
            platform: 'linux',
            criticality: 2,
            exposure: 'internet',
            patchGroup: 'production',
            ips: ['10.0.0.2'],
          },
          { hostname: 'dc-01', platform: 'windows', criticality: 1, exposure: 'internal', tags: ['AD', 'tier0'] },
          { hostname: 'lab_1', criticality: 4, exposure: 'isolated', owner: "o'brien", tags: ['50%_off'] },
        ].map((a) => assetInputSchema.parse(a)),
      );
    });
    afterAll(async () => t.drop());

    const hosts = async (query: string) =>
      (await listAssets(t.db, { query: parseAssetQuery(query) })).map((a) => a.hostname).sort();

    it.each([
      ['tier<=2 and exposure=internet', ['web-01', 'web-02']],
      ['platform=windows or tag=pci', ['dc-01', 'web-01']],
      ['patch_group=staging', ['web-01']],
      ['hostname~web-*', ['web-01', 'web-02']],
      ['hostname~WEB-0?', ['web-01', 'web-02']],
      ['platform=LINUX', ['web-01', 'web-02']],
      // Hosts with no platform are "not windows" too.
      ['platform!=windows', ['lab_1', 'web-01', 'web-02']],
      ['not (tag=pci or tag=ad)', ['lab_1', 'web-02']],
      ['tag~tier*', ['dc-01']],
      ['ip~10.0.0.*', ['web-01', 'web-02']],
      ['ip=10.0.0.2', ['web-02']],
      ['tier>3', ['lab_1']],
      ['tier!=1 and tier<4', ['web-02']],
      // LIKE wildcards in a value are literal characters; only * and ? are wildcards.
      ['hostname~lab_?', ['lab_1']],
      ['hostname~"lab%"', []],
      ['tag~"50%_off"', ['lab_1']],
      ['tag~"50_?off"', []],
      ['tag~"50%?off"', ['lab_1']],
      [`owner="o'brien"`, ['lab_1']],
      [`owner="x' or '1'='1"`, []],
    ])('%s', async (query, expected) => {
      expect(await hosts(query)).toEqual(expected);
    });
  });
});

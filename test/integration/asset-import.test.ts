import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importAssetFile } from '../../app/asset-import.ts';
import { getAsset, listAssets } from '../../db/repositories/assets.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const goodCsv = [
  'Hostname,FQDN,IP,Platform,OS Version,Owner,Service,Tier,Exposure,Patch Group,Tags',
  'WEB-01,web-01.example.com,10.0.0.1;10.0.0.11,linux,Ubuntu 22.04,ops,"Shop, public",1,internet,staging,pci|web',
  'db-01,,2001:DB8::10,linux,,dba,,2,internal,production,',
  '',
  'win-01,,,windows,,,,,isolated,,',
].join('\r\n');

describe('asset import from CSV and JSON', () => {
  let t: TestDatabase;
  const rowCount = async () => Number((await t.db('assets').count<{ n: number }[]>({ n: '*' }))[0]!.n);
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.drop());

  it('imports a CSV with spreadsheet-style headers, quoted cells and list cells', async () => {
    expect(await importAssetFile(t.db, goodCsv, 'csv', 'test')).toEqual({ imported: 3, created: 3, updated: 0 });
    expect(await getAsset(t.db, 'web-01')).toMatchObject({
      hostname: 'web-01',
      fqdn: 'web-01.example.com',
      ips: ['10.0.0.1', '10.0.0.11'],
      osVersion: 'Ubuntu 22.04',
      businessService: 'Shop, public',
      criticality: 1,
      exposure: 'internet',
      patchGroup: 'staging',
      tags: ['pci', 'web'],
    });
    expect(await getAsset(t.db, 'db-01')).toMatchObject({ ips: ['2001:db8::10'], tags: [], criticality: 2 });
    expect(await getAsset(t.db, 'win-01')).toMatchObject({ criticality: 3, exposure: 'isolated' });
  });

  it('imports JSON, updating the assets that exist', async () => {
    const json = JSON.stringify({
      assets: [
        { hostname: 'web-01', criticality: 2, tags: ['pci'] },
        { hostname: 'app-01', ips: ['192.0.2.1'] },
      ],
    });
    expect(await importAssetFile(t.db, json, 'json', 'test')).toEqual({ imported: 2, created: 1, updated: 1 });
    expect((await getAsset(t.db, 'web-01')).criticality).toBe(2);
  });

  it.each([
    {
      name: 'CSV rows with bad fields, a short row and a duplicate',
      format: 'csv' as const,
      text: 'hostname,tier,exposure,ip\nok-01,1,internet,10.0.0.5\nbad host,2,internal,\nok-02,7,internt,10.0.0.300\nok-03,1\nOK-01,2,internal,\n',
      problems: [
        ['row', 3, 'hostname'],
        ['row', 4, 'ips', 0],
        ['row', 4, 'criticality'],
        ['row', 4, 'exposure'],
        ['row', 5],
        ['row', 6, 'hostname'],
      ],
    },
    {
      name: 'JSON rows with a wrong type and an unknown field',
      format: 'json' as const,
      text: JSON.stringify([
        { hostname: 'fine-01' },
        { hostname: 'x', tags: 'pci' },
        { hostname: 'y', colour: 'red' },
        'not an object',
      ]),
      problems: [
        ['row', 2, 'tags'],
        ['row', 3],
        ['row', 4],
      ],
    },
  ])('rejects $name, listing each row and field, and writes nothing', async ({ format, text, problems }) => {
    const before = await rowCount();
    const error = await importAssetFile(t.db, text, format, 'test').catch((err: unknown) => err);
    expect(error).toMatchObject({ name: 'InputError' });
    const paths = (error as { details: { path: unknown[] }[] }).details.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(problems));
    expect(paths).toHaveLength(problems.length);
    expect((error as Error).message).toMatch(/nothing was imported/);
    expect(await rowCount()).toBe(before);
  });

  it.each([
    [
      'a CSV with an unknown column',
      'csv' as const,
      'hostname,colour\nweb-09,red\n',
      /column 2 "colour" is not an asset field/,
    ],
    ['a CSV without a hostname column', 'csv' as const, 'fqdn\nx.example.com\n', /no "hostname" column/],
    ['an empty CSV', 'csv' as const, '', /empty/],
    ['malformed CSV', 'csv' as const, 'hostname\n"web-09\n', /line 2: quoted field is never closed/],
    ['JSON that is not JSON', 'json' as const, '{"assets": [', /not valid JSON/],
    ['JSON that is not a list', 'json' as const, '{"hostname": "web-09"}', /array of assets/],
  ])('rejects %s', async (_name, format, text, message) => {
    const before = await rowCount();
    await expect(importAssetFile(t.db, text, format, 'test')).rejects.toThrow(message);
    expect(await rowCount()).toBe(before);
  });

  it('imports a few thousand rows in one go', async () => {
    const rows = Array.from(
      { length: 3000 },
      (_, i) => `bulk-${i},${(i % 4) + 1},10.20.${Math.floor(i / 250)}.${i % 250}`,
    );
    expect(await importAssetFile(t.db, ['hostname,tier,ips', ...rows].join('\n'), 'csv', 'test')).toMatchObject({
      imported: 3000,
      created: 3000,
    });
    expect((await listAssets(t.db)).filter((a) => a.hostname.startsWith('bulk-'))).toHaveLength(3000);
  });
});

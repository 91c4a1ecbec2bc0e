import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, teamsAppPackage } from '../../integrations/teams/app-package.ts';

const opts = { appId: '9a3c2b1e-5f4d-4c6b-8a7e-1d2f3a4b5c6d', publicUrl: 'https://patchflow.example.org' };

/** Reads a PNG the way a decoder does: signature, chunk CRCs, IHDR, and the inflated pixel rows. */
function decodePng(png: Buffer) {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const chunks = new Map<string, Buffer>();
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    chunks.set(type, data);
    at += 12 + length;
  }
  const ihdr = chunks.get('IHDR')!;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const pixels = inflateSync(chunks.get('IDAT')!);
  expect(pixels.length).toBe(height * (1 + width * 4));
  return {
    width,
    height,
    colorType: ihdr[9],
    alphaAt: (x: number, y: number) => pixels[y * (1 + width * 4) + 1 + x * 4 + 3],
  };
}

describe('Teams app package', () => {
  it('is a valid zip with the manifest and two icons of the sizes Teams requires', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'teams-pkg-')), 'patchflow-teams.zip');
    writeFileSync(file, teamsAppPackage(opts));
    expect(execFileSync('unzip', ['-t', file], { encoding: 'utf8' })).toContain('No errors detected');
    expect(execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).trim().split('\n')).toEqual([
      'manifest.json',
      'color.png',
      'outline.png',
    ]);

    const manifest = JSON.parse(execFileSync('unzip', ['-p', file, 'manifest.json'], { encoding: 'utf8' })) as Record<
      string,
      unknown
    > & {
      bots: { botId: string; commandLists: { commands: { title: string }[] }[] }[];
      staticTabs: { contentUrl: string }[];
    };
    expect(manifest).toMatchObject({
      manifestVersion: '1.19',
      id: opts.appId,
      validDomains: ['patchflow.example.org'],
      webApplicationInfo: { id: opts.appId, resource: `api://patchflow.example.org/${opts.appId}` },
    });
    expect(manifest.bots[0]!.botId).toBe(opts.appId);
    expect(manifest.bots[0]!.commandLists[0]!.commands.map((c) => c.title)).toEqual([
      'help',
      'start',
      'status',
      'approvals',
      'pause',
      'resume',
      'cancel',
    ]);
    expect(manifest.staticTabs[0]!.contentUrl).toBe('https://patchflow.example.org/teams/tab/');

    const color = decodePng(execFileSync('unzip', ['-p', file, 'color.png']));
    expect(color).toMatchObject({ width: 192, height: 192, colorType: 6 });
    const outline = decodePng(execFileSync('unzip', ['-p', file, 'outline.png']));
    expect(outline).toMatchObject({ width: 32, height: 32, colorType: 6 });
    // Outline icons are white on transparent: the corner is see-through, the mark is not.
    expect(outline.alphaAt(0, 0)).toBe(0);
    expect(outline.alphaAt(13, 22)).toBe(255);
  });

  it('is reproducible: the same options give the same bytes', () => {
    expect(teamsAppPackage(opts).equals(teamsAppPackage(opts))).toBe(true);
  });
});

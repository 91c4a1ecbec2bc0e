import { deflateRawSync, deflateSync } from 'node:zlib';
import { commandList } from '../kit/chat/commands.ts';
import { TEAMS_TAB_PATH } from './bot.ts';

/**
 * The Teams app package: manifest.json and its two icons, zipped, ready for Teams admin center →
 * Manage apps → Upload, or Developer Portal → Import. Built here with node:zlib alone.
 */
export interface TeamsPackageOptions {
  appId: string;
  publicUrl: string;
  applicationIdUri?: string | undefined;
  name?: string | undefined;
  version?: string | undefined;
}

const ACCENT: [number, number, number] = [0x1d, 0x35, 0x57];
const COMMANDS_MAX = 10;

export function teamsManifest(opts: TeamsPackageOptions) {
  const base = new URL(opts.publicUrl);
  const name = opts.name ?? 'Patchflow';
  // The bot menu takes one entry per command word, at most ten.
  const commands = commandList
    .map((c) => ({ title: c.usage.split(' ')[0]!, description: `${c.usage}: ${c.summary}`.slice(0, 128) }))
    .filter((c, i, all) => all.findIndex((o) => o.title === c.title) === i)
    .slice(0, COMMANDS_MAX);
  const scopes = ['team', 'personal', 'groupChat'];
  return {
    $schema: 'https://developer.microsoft.com/en-us/json-schemas/teams/v1.19/MicrosoftTeams.schema.json',
    manifestVersion: '1.19',
    version: opts.version ?? '1.0.0',
    id: opts.appId,
    developer: { name, websiteUrl: base.origin, privacyUrl: base.origin, termsOfUseUrl: base.origin },
    name: { short: name, full: `${name}: patch change approvals` },
    description: {
      short: 'Approve patch changes and follow patch cycles',
      full: 'Approve or reject patch changes with their full context (scope, risk, staging results, window, rollback plan); coordinators start, follow, pause and resume patch cycles from the bot.',
    },
    icons: { color: 'color.png', outline: 'outline.png' },
    accentColor: `#${ACCENT.map((c) => c.toString(16).padStart(2, '0'))
      .join('')
      .toUpperCase()}`,
    bots: [
      {
        botId: opts.appId,
        scopes,
        supportsFiles: false,
        isNotificationOnly: false,
        commandLists: [{ scopes, commands }],
      },
    ],
    staticTabs: [
      {
        entityId: 'patchflow-approvals',
        name: 'Approvals',
        contentUrl: new URL(`${TEAMS_TAB_PATH}/`, base).toString(),
        scopes: ['personal'],
      },
    ],
    permissions: ['identity', 'messageTeamMembers'],
    validDomains: [base.host],
    webApplicationInfo: { id: opts.appId, resource: opts.applicationIdUri ?? `api://${base.host}/${opts.appId}` },
  };
}

export function teamsAppPackage(opts: TeamsPackageOptions): Buffer {
  return zip([
    { name: 'manifest.json', data: Buffer.from(`${JSON.stringify(teamsManifest(opts), null, 2)}\n`) },
    { name: 'color.png', data: icon(192, ACCENT, [255, 255, 255]) },
    // Teams requires the outline icon to be white on a transparent background.
    { name: 'outline.png', data: icon(32, null, [255, 255, 255]) },
  ]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A check mark on a square; RGBA, so that the outline icon can be transparent. */
function icon(size: number, background: [number, number, number] | null, mark: [number, number, number]): Buffer {
  const stroke = size * 0.09;
  const points: [number, number][] = [
    [0.24, 0.52],
    [0.42, 0.7],
    [0.76, 0.32],
  ].map(([x, y]) => [x! * size, y! * size]);
  const near = (x: number, y: number) =>
    [0, 1].some((i) => {
      const [ax, ay] = points[i]!;
      const [bx, by] = points[i + 1]!;
      const t = Math.max(
        0,
        Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)),
      );
      return Math.hypot(x - (ax + t * (bx - ax)), y - (ay + t * (by - ay))) <= stroke;
    });
  const raw = Buffer.alloc(size * (1 + size * 4));
  for (let y = 0; y < size; y++) {
    const row = y * (1 + size * 4);
    for (let x = 0; x < size; x++) {
      const px = row + 1 + x * 4;
      const rgba = near(x + 0.5, y + 0.5) ? [...mark, 255] : background ? [...background, 255] : [0, 0, 0, 0];
      raw.set(rgba, px);
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A zip archive (deflated entries, fixed 1980-01-01 timestamps so the package is reproducible). */
export function zip(entries: { name: string; data: Buffer }[]): Buffer {
  const DOS_DATE = (0 << 9) | (1 << 5) | 1;
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const packed = deflateRawSync(e.data);
    const crc = crc32(e.data);
    // The fields local and central headers share, from "version needed" to the name's length.
    const shared = (header: Buffer, at: number) => {
      header.writeUInt16LE(20, at);
      header.writeUInt16LE(0x0800, at + 2);
      header.writeUInt16LE(8, at + 4);
      header.writeUInt16LE(0, at + 6);
      header.writeUInt16LE(DOS_DATE, at + 8);
      header.writeUInt32LE(crc, at + 10);
      header.writeUInt32LE(packed.length, at + 14);
      header.writeUInt32LE(e.data.length, at + 18);
      header.writeUInt16LE(name.length, at + 22);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    shared(local, 4);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    shared(central, 6);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += local.length + name.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

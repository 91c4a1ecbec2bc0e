import { z } from 'zod';
import { InputError, UpstreamError } from '../../kernel/errors.ts';
import type { WinRmClient } from '../kit/winrm/client.ts';
import { splitToFit } from '../kit/winrm/limits.ts';
import { psQuote } from '../kit/winrm/quoting.ts';

/** ConvertTo-Json writes a single object bare and several as an array; both mean "these rows". */
function rows<S extends z.ZodType>(row: S) {
  return z.union([z.array(row), row]).transform((v): z.output<S>[] => (Array.isArray(v) ? v : [v]));
}

/** The dotted form of System.Net.IPAddress.Address: the IPv4 address as a little-endian 32-bit number. */
function dottedQuad(address: number): string {
  return [0, 8, 16, 24].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/**
 * IComputerTarget.IPAddress. The script asks for its text (IPAddressToString), but a
 * System.Net.IPAddress that reaches ConvertTo-Json as it is comes out as an object, shaped
 * differently by Windows PowerShell 5.1 and PowerShell 7 and with IPAddressToString only when
 * PowerShell's type data was applied; then the IPv4 Address number is all there is. An IPv6
 * address without its text cannot be recovered and reads as none.
 */
export const ipAddressSchema = z.union([
  z.string(),
  z
    .object({
      AddressFamily: z.number().int(),
      Address: z.number().int().nonnegative().max(0xffffffff).nullable().optional(),
      IPAddressToString: z.string().optional(),
    })
    .transform(
      (ip) =>
        ip.IPAddressToString ??
        (ip.AddressFamily === 2 && typeof ip.Address === 'number' ? dottedQuad(ip.Address) : null),
    ),
]);

const groupSchema = z.object({ Id: z.string(), Name: z.string() });
const computerSchema = z.object({
  Id: z.string(),
  FullDomainName: z.string().nullable(),
  IPAddress: ipAddressSchema.nullable().optional(),
  OSDescription: z.string().nullable().optional(),
  ComputerTargetGroupIds: z
    .union([z.array(z.string()), z.string()])
    .nullable()
    .optional(),
});
const updateSchema = z.object({
  Id: z.object({ UpdateId: z.string(), RevisionNumber: z.number() }),
  Title: z.string(),
  RequiresLicenseAgreementAcceptance: z.boolean(),
});
/** UpdateInstallationState: Windows PowerShell serialises the enum as its number, -EnumsAsStrings as its name. */
const stateNames = [
  'Unknown',
  'NotApplicable',
  'NotInstalled',
  'Downloaded',
  'Installed',
  'Failed',
  'InstalledPendingReboot',
] as const;
export type InstallationState = (typeof stateNames)[number];
const installationInfoSchema = z.object({
  ComputerTargetId: z.string(),
  UpdateId: z.string(),
  UpdateInstallationState: z.union([
    z
      .number()
      .int()
      .min(0)
      .max(6)
      .transform((n) => stateNames[n]!),
    z.enum(stateNames),
  ]),
});

/** ComputerTargetGroupId.AllComputers and .UnassignedComputers: the same on every WSUS, whatever the language of their names. */
export const builtInGroupIds = {
  allComputers: 'a0a08746-4dbe-4a37-9adf-9e7652c0b421',
  unassignedComputers: 'b73ca6ed-5727-47f3-84de-015e03f6a88a',
} as const;

export interface WsusGroup {
  id: string;
  name: string;
}
export interface WsusComputer {
  id: string;
  fullDomainName: string;
  ipAddress: string | undefined;
  osDescription: string | undefined;
  groupIds: string[];
}
export interface WsusUpdateRef {
  updateId: string;
  title: string;
  /** Its licence agreement must be accepted before it can be approved for install. */
  requiresLicense: boolean;
}
export type WsusAction = 'Install' | 'Uninstall';

const preamble = [
  "$ErrorActionPreference = 'Stop'",
  "$ProgressPreference = 'SilentlyContinue'",
  '$server = Get-WsusServer',
];
const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The WSUS administration API (Microsoft.UpdateServices.Administration, reached through the
 * UpdateServices module's Get-WsusServer) driven by PowerShell scripts run over WinRM. Every
 * value is a quoted literal (psQuote); results come back as one compressed JSON document per
 * output line and are validated before use. Lists of hosts or updates are split into as many
 * scripts as Windows' command-line limit and the listener's envelope limit require.
 */
export class WsusClient {
  constructor(private readonly winrm: WinRmClient) {}

  async serverName(signal?: AbortSignal): Promise<string> {
    const [server] = await this.script(
      [`$server | Select-Object -Property 'Name', 'PortNumber' | ConvertTo-Json -Compress`],
      signal,
    );
    const parsed = z.object({ Name: z.string(), PortNumber: z.number() }).safeParse(server);
    if (!parsed.success) throw new UpstreamError('Get-WsusServer answered without a server name', { retryable: false });
    return `${parsed.data.Name}:${parsed.data.PortNumber}`;
  }

  async fleet(signal?: AbortSignal): Promise<{ groups: WsusGroup[]; computers: WsusComputer[] }> {
    const [groups, computers] = await this.script(
      [
        `$server.GetComputerTargetGroups() | Select-Object -Property 'Id', 'Name' | ConvertTo-Json -Compress`,
        `$server.GetComputerTargets() | Select-Object -Property 'Id', 'FullDomainName', @{ Name = 'IPAddress'; Expression = { $_.IPAddress.IPAddressToString } }, 'OSDescription', 'ComputerTargetGroupIds' | ConvertTo-Json -Compress -Depth 3`,
      ],
      signal,
    );
    return {
      groups: parse(rows(groupSchema), groups ?? [], 'computer target groups').map((g) => ({ id: g.Id, name: g.Name })),
      computers: parse(rows(computerSchema), computers ?? [], 'computers').flatMap((c) =>
        c.FullDomainName
          ? [
              {
                id: c.Id,
                fullDomainName: c.FullDomainName,
                ipAddress: c.IPAddress ?? undefined,
                osDescription: c.OSDescription ?? undefined,
                groupIds: [c.ComputerTargetGroupIds ?? []].flat(),
              },
            ]
          : [],
      ),
    };
  }

  /**
   * The non-declined updates a vendor reference names: an update GUID, or a KB article found
   * through IUpdateServer.SearchUpdates (a substring search of title, description and KB number,
   * so the KB list is matched exactly afterwards) rather than a listing of every update.
   */
  async findUpdates(vendorRef: string, signal?: AbortSignal): Promise<WsusUpdateRef[]> {
    const kb = kbNumber(vendorRef);
    if (!guidPattern.test(vendorRef) && (kb.length === 0 || kb.length > 255))
      throw new InputError(`WSUS cannot look up "${vendorRef.slice(0, 300)}": name an update GUID or a KB article`, [
        { path: ['patch', 'vendorRef'], message: 'an update GUID or a KB number of 1 to 255 characters' },
      ]);
    const source = guidPattern.test(vendorRef)
      ? `Get-WsusUpdate -UpdateId ${psQuote(vendorRef)} | Select-Object -ExpandProperty 'Update'`
      : `$server.SearchUpdates(${psQuote(kb)}) | Where-Object -Property 'KnowledgebaseArticles' -Contains -Value ${psQuote(kb)}`;
    const [found] = await this.script(
      [
        `${source} | Where-Object -Property 'IsDeclined' -EQ -Value $false | Select-Object -Property 'Id', 'Title', 'RequiresLicenseAgreementAcceptance' | ConvertTo-Json -Compress -Depth 3`,
      ],
      signal,
    );
    return found === undefined
      ? []
      : parse(rows(updateSchema), found, 'updates').map((u) => ({
          updateId: u.Id.UpdateId,
          title: u.Title,
          requiresLicense: u.RequiresLicenseAgreementAcceptance,
        }));
  }

  /** Adds computers (by WSUS id) to a group, in as few scripts as the command-line limit allows. */
  async addToGroup(computerIds: string[], groupId: string, signal?: AbortSignal): Promise<void> {
    await this.scripts(
      computerIds,
      (slice) => [
        `$group = $server.GetComputerTargetGroup(${psQuote(groupId)})`,
        `@(${slice.map(psQuote).join(', ')}) | ForEach-Object -Process { $group.AddComputerTarget($server.GetComputerTarget($_)) }`,
      ],
      signal,
    );
  }

  /**
   * Approves the updates for `action` to a group with a deadline (UTC), accepting a licence
   * agreement first where one is required: WSUS refuses to approve such an update for install
   * before, and without the deadline a client set only to notify would wait for a person.
   */
  async approve(
    updates: WsusUpdateRef[],
    action: WsusAction,
    groupId: string,
    deadline: Date,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.scripts(
      updates,
      (slice) => [
        `$group = $server.GetComputerTargetGroup(${psQuote(groupId)})`,
        `$deadline = ([datetime]${psQuote(deadline.toISOString())}).ToUniversalTime()`,
        ...slice.flatMap((u) => [
          `$update = ${updateById(u)}`,
          ...(u.requiresLicense && action === 'Install' ? ['$update.AcceptLicenseAgreement()'] : []),
          `$null = $update.Approve(${psQuote(action)}, $group, $deadline)`,
        ]),
      ],
      signal,
    );
  }

  /** Removes the updates' approvals for a group, so that no computer in it installs them from now on. */
  async removeApprovals(updates: WsusUpdateRef[], groupId: string, signal?: AbortSignal): Promise<void> {
    await this.scripts(
      updates,
      (slice) => [
        `$group = $server.GetComputerTargetGroup(${psQuote(groupId)})`,
        ...slice.map(
          (u) =>
            `${updateById(u)} | ForEach-Object -Process { $_.GetUpdateApprovals($group) } | ForEach-Object -Process { $_.Delete() }`,
        ),
      ],
      signal,
    );
  }

  /** Installation state of each update on every computer, keyed by computer target id. */
  async installationStates(updates: WsusUpdateRef[], signal?: AbortSignal): Promise<Map<string, InstallationState[]>> {
    const lines = await this.scripts(
      updates,
      (slice) => [
        `$all = $server.GetComputerTargetGroup(${psQuote(builtInGroupIds.allComputers)})`,
        ...slice.map(
          (u) =>
            `${updateById(u)} | ForEach-Object -MemberName 'GetUpdateInstallationInfoPerComputerTarget' -ArgumentList $all | Select-Object -Property 'ComputerTargetId', 'UpdateId', 'UpdateInstallationState' | ConvertTo-Json -Compress`,
        ),
      ],
      signal,
    );
    const byComputer = new Map<string, InstallationState[]>();
    for (const line of lines) {
      for (const info of parse(rows(installationInfoSchema), line, 'installation states')) {
        byComputer.set(info.ComputerTargetId, [
          ...(byComputer.get(info.ComputerTargetId) ?? []),
          info.UpdateInstallationState,
        ]);
      }
    }
    return byComputer;
  }

  /** Runs one script per slice of `items` that fits a command, in order, and returns all their output lines. */
  private async scripts<T>(
    items: readonly T[],
    build: (slice: readonly T[]) => string[],
    signal?: AbortSignal,
  ): Promise<unknown[]> {
    const scripts = splitToFit(
      items,
      (slice) => withPreamble(build(slice)),
      (script) => this.winrm.fitsPowerShell(script),
    );
    const lines: unknown[] = [];
    for (const script of scripts) lines.push(...(await this.run(script, signal)));
    return lines;
  }

  private script(statements: string[], signal?: AbortSignal): Promise<unknown[]> {
    return this.run(withPreamble(statements), signal);
  }

  /** Runs a script and returns each non-empty output line parsed as JSON. */
  private async run(script: string, signal?: AbortSignal): Promise<unknown[]> {
    const result = await this.winrm.runPowerShell(script, signal);
    if (result.exitCode !== 0) {
      const message = result.stderr || `exit code ${result.exitCode}`;
      // A missing cmdlet or object, a parameter WSUS does not know or a script that does not parse fails the same way every time.
      const permanent =
        /CommandNotFoundException|ParameterBindingException|ParserError|WsusObjectNotFoundException|does not exist|cannot be uninstalled/.test(
          message,
        );
      throw new UpstreamError(`WSUS PowerShell failed: ${message}`, { retryable: !permanent });
    }
    return result.stdout
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l) as unknown;
        } catch {
          throw new UpstreamError(`WSUS PowerShell printed something that is not JSON: ${l.slice(0, 200)}`, {
            retryable: false,
          });
        }
      });
  }
}

function withPreamble(statements: string[]): string {
  return [...preamble, ...statements].join('\r\n');
}

function updateById(u: WsusUpdateRef): string {
  return `Get-WsusUpdate -UpdateId ${psQuote(u.updateId)} | Select-Object -ExpandProperty 'Update'`;
}

/** `KB5031356` and `5031356` both name KB article 5031356, which is how WSUS lists it. */
function kbNumber(vendorRef: string): string {
  return vendorRef.replace(/^KB/i, '');
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new UpstreamError(
      `WSUS returned unexpected ${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      { retryable: false },
    );
  return parsed.data;
}

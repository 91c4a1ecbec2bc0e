import { z } from 'zod';
import { UpstreamError } from '../../kernel/errors.ts';
import type { WinRmClient } from '../kit/winrm/client.ts';
import { psQuote } from '../kit/winrm/quoting.ts';

/** ConvertTo-Json writes a single object bare and several as an array; both mean "these rows". */
function rows<S extends z.ZodType>(row: S) {
  return z.union([z.array(row), row]).transform((v): z.output<S>[] => (Array.isArray(v) ? v : [v]));
}

const groupSchema = z.object({ Id: z.string(), Name: z.string() });
// Get-WsusComputer prints the string "No computers available." instead of nothing; Select-Object turns it into a row of nulls.
const computerSchema = z.object({
  Id: z.string().nullable(),
  FullDomainName: z.string().nullable(),
  IPAddress: z.string().nullable().optional(),
  OSDescription: z.string().nullable().optional(),
  ComputerTargetGroupIds: z
    .union([z.array(z.string()), z.string()])
    .nullable()
    .optional(),
});
const updateSchema = z.object({
  Id: z.object({ UpdateId: z.string(), RevisionNumber: z.number() }),
  Title: z.string(),
  KnowledgebaseArticles: z
    .union([z.array(z.string()), z.string()])
    .nullable()
    .optional(),
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
}
export type WsusAction = 'Install' | 'Uninstall' | 'NotApproved';

const preamble = ["$ErrorActionPreference = 'Stop'", "$ProgressPreference = 'SilentlyContinue'"];

/**
 * The UpdateServices cmdlets Patchflow runs on the WSUS server, one PowerShell script per step.
 * Every value is a quoted literal (psQuote); results come back as one compressed JSON document
 * per output line and are validated before use.
 */
export class WsusClient {
  constructor(private readonly winrm: WinRmClient) {}

  async serverName(signal?: AbortSignal): Promise<string> {
    const [server] = await this.script(
      [`Get-WsusServer | Select-Object -Property 'Name', 'PortNumber' | ConvertTo-Json -Compress`],
      signal,
    );
    const parsed = z.object({ Name: z.string(), PortNumber: z.number() }).safeParse(server);
    if (!parsed.success) throw new UpstreamError('Get-WsusServer answered without a server name', { retryable: false });
    return `${parsed.data.Name}:${parsed.data.PortNumber}`;
  }

  async fleet(signal?: AbortSignal): Promise<{ groups: { id: string; name: string }[]; computers: WsusComputer[] }> {
    const [groups, computers] = await this.script(
      [
        `Get-WsusServer | ForEach-Object -MemberName 'GetComputerTargetGroups' | Select-Object -Property 'Id', 'Name' | ConvertTo-Json -Compress`,
        `Get-WsusComputer -All | Select-Object -Property 'Id', 'FullDomainName', 'IPAddress', 'OSDescription', 'ComputerTargetGroupIds' | ConvertTo-Json -Compress -Depth 3`,
      ],
      signal,
    );
    return {
      groups: parse(rows(groupSchema), groups ?? [], 'computer target groups').map((g) => ({ id: g.Id, name: g.Name })),
      computers: parse(rows(computerSchema), computers ?? [], 'computers').flatMap((c) =>
        c.Id && c.FullDomainName
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

  /** The updates a vendor reference names: an update GUID, or every non-declined update of a KB article. */
  async findUpdates(vendorRef: string, signal?: AbortSignal): Promise<WsusUpdateRef[]> {
    const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(vendorRef);
    const source = guid
      ? `Get-WsusUpdate -UpdateId ${psQuote(vendorRef)} | Select-Object -ExpandProperty 'Update'`
      : `Get-WsusUpdate -Classification 'All' -Approval 'AnyExceptDeclined' -Status 'Any' | Select-Object -ExpandProperty 'Update' | Where-Object -Property 'KnowledgebaseArticles' -Contains -Value ${psQuote(vendorRef.replace(/^KB/i, ''))}`;
    const [found] = await this.script(
      [
        `${source} | Select-Object -Property 'Id', 'Title', 'KnowledgebaseArticles' | ConvertTo-Json -Compress -Depth 3`,
      ],
      signal,
    );
    return found === undefined
      ? []
      : parse(rows(updateSchema), found, 'updates').map((u) => ({ updateId: u.Id.UpdateId, title: u.Title }));
  }

  async addToGroup(fullDomainNames: string[], group: string, signal?: AbortSignal): Promise<void> {
    if (fullDomainNames.length === 0) return;
    await this.script(
      fullDomainNames.map(
        (name) =>
          `Get-WsusComputer -NameIncludes ${psQuote(name)} | Where-Object -Property 'FullDomainName' -EQ -Value ${psQuote(name)} | Add-WsusComputer -TargetGroupName ${psQuote(group)}`,
      ),
      signal,
    );
  }

  async approve(updates: WsusUpdateRef[], action: WsusAction, group: string, signal?: AbortSignal): Promise<void> {
    await this.script(
      updates.map(
        (u) =>
          `Get-WsusUpdate -UpdateId ${psQuote(u.updateId)} | Approve-WsusUpdate -Action ${psQuote(action)} -TargetGroupName ${psQuote(group)}`,
      ),
      signal,
    );
  }

  /** Installation state of each update on each computer of `group`, keyed by computer target id. */
  async installationStates(
    updates: WsusUpdateRef[],
    group: string,
    signal?: AbortSignal,
  ): Promise<Map<string, InstallationState[]>> {
    const lines = await this.script(
      [
        `$group = Get-WsusServer | ForEach-Object -MemberName 'GetComputerTargetGroups' | Where-Object -Property 'Name' -EQ -Value ${psQuote(group)}`,
        ...updates.map(
          (u) =>
            `Get-WsusUpdate -UpdateId ${psQuote(u.updateId)} | Select-Object -ExpandProperty 'Update' | ForEach-Object -MemberName 'GetUpdateInstallationInfoPerComputerTarget' -ArgumentList $group | Select-Object -Property 'ComputerTargetId', 'UpdateId', 'UpdateInstallationState' | ConvertTo-Json -Compress`,
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

  /** Runs the statements and returns each non-empty output line parsed as JSON. */
  private async script(statements: string[], signal?: AbortSignal): Promise<unknown[]> {
    const result = await this.winrm.runPowerShell([...preamble, ...statements].join('\r\n'), signal);
    if (result.exitCode !== 0) {
      const message = result.stderr || `exit code ${result.exitCode}`;
      // A missing cmdlet, a parameter WSUS does not know or a script that does not parse fails the same way every time.
      const permanent =
        /CommandNotFoundException|ParameterBindingException|ParserError|does not exist|cannot be uninstalled/.test(
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

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new UpstreamError(
      `WSUS returned unexpected ${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      { retryable: false },
    );
  return parsed.data;
}

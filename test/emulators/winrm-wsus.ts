/**
 * A WSUS server reached over WinRM: the WinRM emulator with a PowerShell host that knows the
 * UpdateServices cmdlets Patchflow sends, over an in-memory WSUS (computers, target groups,
 * updates, approvals, per-computer installation state). Shapes follow the documentation:
 * - Get-WsusServer, Get-WsusUpdate (-UpdateId, -Classification, -Approval, -Status),
 *   Approve-WsusUpdate (-Update, -Action Install|Uninstall|NotApproved, -TargetGroupName),
 *   Get-WsusComputer (-All, -NameIncludes, -ComputerTargetGroups; prints "No computers
 *   available." when nothing matches), Add-WsusComputer (-Computer, -TargetGroupName):
 *   https://learn.microsoft.com/en-us/powershell/module/updateservices/
 * - IUpdate.GetUpdateInstallationInfoPerComputerTarget, IUpdateInstallationInfo
 *   (ComputerTargetId, UpdateId, UpdateInstallationState) and the UpdateInstallationState
 *   enumeration (Unknown 0, NotApplicable 1, NotInstalled 2, Downloaded 3, Installed 4,
 *   Failed 5, InstalledPendingReboot 6):
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ms747134(v=vs.85)
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/aa354271(v=vs.85)
 * - IComputerTarget (Id, FullDomainName, IPAddress, OSDescription, ComputerTargetGroupIds) as
 *   Get-WsusComputer prints it (test/fixtures/wsus/Get-WsusComputer.md.example1.txt).
 * Clients act on approvals the way WSUS clients do, at their next report: each per-computer
 * state query counts as one report, and an approval takes effect after `reportsBeforeAction`.
 */
import { randomUUID } from 'node:crypto';
import {
  PowerShellHost,
  PsError,
  psObject,
  type Cmdlet,
  type CmdletCall,
  type Params,
  type PsObject,
  type PsValue,
} from './powershell.ts';
import { WinRmEmulator, type CommandHandler, type WinRmEmulatorOptions } from './winrm.ts';

export const installationState = {
  Unknown: 0,
  NotApplicable: 1,
  NotInstalled: 2,
  Downloaded: 3,
  Installed: 4,
  Failed: 5,
  InstalledPendingReboot: 6,
} as const;

type ApprovalAction = 'Install' | 'Uninstall' | 'NotApproved';

interface Computer {
  id: string;
  fullDomainName: string;
  ipAddress: string;
  osDescription: string;
  groupIds: Set<string>;
  installed: Set<string>;
  failed: Set<string>;
}

interface Update {
  id: string;
  title: string;
  kb: string;
  classification: string;
  uninstallable: boolean;
  declined: boolean;
}

export interface WsusEmulatorOptions extends Omit<WinRmEmulatorOptions, 'handlers'> {
  reportsBeforeAction?: number;
}

export class WsusEmulator {
  readonly winrm: WinRmEmulator;
  readonly cmdletCalls: CmdletCall[] = [];
  readonly approvals: { updateId: string; groupName: string; action: ApprovalAction }[] = [];
  /** Installs and uninstalls clients performed; a no-op deployment leaves this unchanged. */
  hostChanges = 0;
  private readonly computers: Computer[] = [];
  private readonly updates: Update[] = [];
  private readonly groups: { id: string; name: string }[] = [];
  private readonly failInstall = new Set<string>();
  private readonly reports = new Map<string, number>();
  private readonly reportsBeforeAction: number;

  constructor(opts: WsusEmulatorOptions) {
    this.reportsBeforeAction = opts.reportsBeforeAction ?? 1;
    this.addGroup('All Computers');
    this.addGroup('Unassigned Computers');
    this.winrm = new WinRmEmulator({ ...opts, handlers: [this.powershellHandler] });
  }

  async start(): Promise<this> {
    await this.winrm.start();
    return this;
  }

  close(): Promise<void> {
    return this.winrm.close();
  }

  addGroup(name: string): string {
    const id = randomUUID();
    this.groups.push({ id, name });
    return id;
  }

  addComputer(c: {
    fullDomainName: string;
    ipAddress?: string;
    osDescription?: string;
    groups?: string[];
    installedKbs?: string[];
  }): void {
    const groupIds = new Set([this.groupId('All Computers')]);
    for (const g of c.groups ?? []) groupIds.add(this.groupId(g));
    this.computers.push({
      id: randomUUID(),
      fullDomainName: c.fullDomainName,
      ipAddress: c.ipAddress ?? '10.0.0.1',
      osDescription: c.osDescription ?? 'Windows Server 2022 Datacenter',
      groupIds,
      installed: new Set(this.updates.filter((u) => (c.installedKbs ?? []).includes(u.kb)).map((u) => u.id)),
      failed: new Set(),
    });
  }

  addUpdate(u: { title: string; kb: string; classification?: string; uninstallable?: boolean; id?: string }): string {
    const id = u.id ?? randomUUID();
    this.updates.push({
      id,
      title: u.title,
      kb: u.kb.replace(/^KB/i, ''),
      classification: u.classification ?? 'Security Updates',
      uninstallable: u.uninstallable ?? true,
      declined: false,
    });
    return id;
  }

  failInstallOn(fullDomainName: string): void {
    this.failInstall.add(fullDomainName.toLowerCase());
  }

  isInstalled(fullDomainName: string, kb: string): boolean {
    const c = this.computers.find((x) => x.fullDomainName.toLowerCase() === fullDomainName.toLowerCase());
    const ids = this.updates.filter((u) => u.kb === kb.replace(/^KB/i, '')).map((u) => u.id);
    return !!c && ids.some((id) => c.installed.has(id));
  }

  groupMembers(name: string): string[] {
    const id = this.groupId(name);
    return this.computers.filter((c) => c.groupIds.has(id)).map((c) => c.fullDomainName);
  }

  private groupId(name: string): string {
    const g = this.groups.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!g) throw new Error(`no group ${name}`);
    return g.id;
  }

  private readonly powershellHandler: CommandHandler = (cmd) => {
    if (!/(^|\\)powershell(\.exe)?$/i.test(cmd.command)) return undefined;
    const at = cmd.argv.findIndex((a) => /^-(EncodedCommand|enc|ec)$/i.test(a));
    if (at < 0 || !cmd.argv[at + 1])
      return { stdout: '', stderr: 'powershell.exe: this host only runs -EncodedCommand scripts\r\n', exitCode: 1 };
    const script = Buffer.from(cmd.argv[at + 1]!, 'base64').toString('utf16le');
    const host = new PowerShellHost(this.cmdlets());
    const out = host.run(script);
    this.cmdletCalls.push(...host.calls);
    return out;
  };

  /** What a client reports for one update now, after acting on an approval if its report is due. */
  private stateOf(c: Computer, u: Update): number {
    const action = this.effectiveApproval(c, u);
    const wants =
      (action === 'Install' && !c.installed.has(u.id) && !c.failed.has(u.id)) ||
      (action === 'Uninstall' && c.installed.has(u.id));
    if (wants) {
      const key = `${c.id}|${u.id}|${action}`;
      const seen = (this.reports.get(key) ?? 0) + 1;
      this.reports.set(key, seen);
      if (seen > this.reportsBeforeAction) {
        this.reports.delete(key);
        this.hostChanges++;
        if (action === 'Uninstall') c.installed.delete(u.id);
        else if (this.failInstall.has(c.fullDomainName.toLowerCase())) c.failed.add(u.id);
        else c.installed.add(u.id);
      }
    }
    if (c.installed.has(u.id)) return installationState.Installed;
    if (c.failed.has(u.id)) return installationState.Failed;
    return action === 'Install' ? installationState.Downloaded : installationState.NotInstalled;
  }

  /** The approval that applies to a computer: the latest one for any group it belongs to. */
  private effectiveApproval(c: Computer, u: Update): ApprovalAction {
    const names = new Set(this.groups.filter((g) => c.groupIds.has(g.id)).map((g) => g.name.toLowerCase()));
    const latest = this.approvals.filter((a) => a.updateId === u.id && names.has(a.groupName.toLowerCase())).at(-1);
    return latest?.action ?? 'NotApproved';
  }

  private groupObject(g: { id: string; name: string }): PsObject {
    return psObject({ Id: g.id, Name: g.name, Description: '' }, { ToString: () => g.name });
  }

  private computerObject(c: Computer): PsObject {
    return psObject({
      Id: c.id,
      FullDomainName: c.fullDomainName,
      IPAddress: c.ipAddress,
      OSDescription: c.osDescription,
      ComputerTargetGroupIds: [...c.groupIds],
      LastReportedStatusTime: '2026-11-20T08:00:00',
    });
  }

  private updateObject(u: Update): PsObject {
    return psObject(
      {
        Id: psObject({ UpdateId: u.id, RevisionNumber: 1 }),
        Title: u.title,
        KnowledgebaseArticles: [u.kb],
        UpdateClassificationTitle: u.classification,
        IsDeclined: u.declined,
      },
      {
        GetUpdateInstallationInfoPerComputerTarget: (group) => {
          const groupId = group && typeof group === 'object' && !Array.isArray(group) ? String(group['Id']) : '';
          if (!this.groups.some((g) => g.id === groupId))
            throw new PsError(
              'Exception calling "GetUpdateInstallationInfoPerComputerTarget" with "1" argument(s): "Value cannot be null. Parameter name: targetGroup"',
              'NotSpecified: (:) [], MethodInvocationException',
              'ArgumentNullException',
            );
          return this.computers
            .filter((c) => c.groupIds.has(groupId))
            .map((c) =>
              psObject({
                ComputerTargetId: c.id,
                UpdateId: u.id,
                UpdateInstallationState: this.stateOf(c, u),
                UpdateApprovalAction: this.effectiveApproval(c, u) === 'Install' ? 0 : 3,
              }),
            );
        },
      },
    );
  }

  private wsusUpdateObject(u: Update): PsObject {
    return psObject({
      Update: this.updateObject(u),
      Classification: u.classification,
      Approved: this.approvals.some((a) => a.updateId === u.id && a.action === 'Install') ? 'Install' : 'NotApproved',
    });
  }

  private cmdlets(): Record<string, Cmdlet> {
    const server = psObject(
      { Name: 'wsus01', PortNumber: 8530 },
      { GetComputerTargetGroups: () => this.groups.map((g) => this.groupObject(g)) },
    );
    const str = (params: Params, name: string) => {
      const v = params.get(name);
      return v === undefined || v === null ? undefined : String(v);
    };
    return {
      'Get-WsusServer': { parameters: ['Name', 'PortNumber', 'UseSsl'], run: () => [server] },
      'Get-WsusUpdate': {
        parameters: ['UpdateId', 'RevisionNumber', 'Classification', 'Approval', 'Status', 'UpdateServer'],
        run: (_input, params) => {
          const id = str(params, 'UpdateId');
          if (id !== undefined) {
            const u = this.updates.find((x) => x.id.toLowerCase() === id.toLowerCase());
            if (!u)
              throw new PsError(
                `Get-WsusUpdate : The update "${id}" could not be found.`,
                'ObjectNotFound: (:) [Get-WsusUpdate], WsusObjectNotFoundException',
                'UpdateNotFound,Microsoft.UpdateServices.Commands.GetWsusUpdateCommand',
              );
            return [this.wsusUpdateObject(u)];
          }
          const approval = (str(params, 'Approval') ?? 'AnyExceptDeclined').toLowerCase();
          return this.updates
            .filter((u) => (approval === 'declined' ? u.declined : !u.declined))
            .map((u) => this.wsusUpdateObject(u));
        },
      },
      'Approve-WsusUpdate': {
        parameters: ['Update', 'Action', 'TargetGroupName', 'WhatIf', 'Confirm'],
        run: (input, params) => {
          const action = str(params, 'Action') ?? '';
          const groupName = str(params, 'TargetGroupName') ?? '';
          if (!['Install', 'Uninstall', 'NotApproved'].some((a) => a.toLowerCase() === action.toLowerCase())) {
            throw new PsError(
              `Approve-WsusUpdate : Cannot bind parameter 'Action'. Cannot convert value "${action}" to type "Microsoft.UpdateServices.Administration.UpdateApprovalAction". Error: "Unable to match the identifier name ${action} to a valid enumerator name. Specify one of the following enumerator names and try again: Install, Uninstall, NotApproved, All"`,
              'InvalidArgument: (:) [Approve-WsusUpdate], ParameterBindingException',
              'CannotConvertArgumentNoMessage,Microsoft.UpdateServices.Commands.ApproveWsusUpdateCommand',
            );
          }
          if (!this.groups.some((g) => g.name.toLowerCase() === groupName.toLowerCase())) {
            throw new PsError(
              `Approve-WsusUpdate : The computer target group "${groupName}" does not exist.`,
              'ObjectNotFound: (:) [Approve-WsusUpdate], ArgumentException',
              'TargetGroupNotFound,Microsoft.UpdateServices.Commands.ApproveWsusUpdateCommand',
            );
          }
          const given = params.get('Update');
          const targets = given === undefined ? input : Array.isArray(given) ? given : [given];
          for (const t of targets) {
            const u = this.updateFromWsusUpdate(t);
            const normalized = (['Install', 'Uninstall', 'NotApproved'] as const).find(
              (a) => a.toLowerCase() === action.toLowerCase(),
            )!;
            if (normalized === 'Uninstall' && !u.uninstallable) {
              throw new PsError(
                `Approve-WsusUpdate : Exception calling "Approve" with "2" argument(s): "The update ${u.title} cannot be uninstalled."`,
                'InvalidOperation: (:) [Approve-WsusUpdate], InvalidOperationException',
                'InvalidOperationException,Microsoft.UpdateServices.Commands.ApproveWsusUpdateCommand',
              );
            }
            if (params.get('WhatIf') !== true) this.approvals.push({ updateId: u.id, groupName, action: normalized });
          }
          return [];
        },
      },
      'Get-WsusComputer': {
        parameters: ['All', 'NameIncludes', 'ComputerTargetGroups', 'UpdateServer'],
        run: (_input, params) => {
          const name = str(params, 'NameIncludes')?.toLowerCase();
          const groupNames = params.has('ComputerTargetGroups')
            ? [params.get('ComputerTargetGroups')].flat().map((g) => String(g).toLowerCase())
            : undefined;
          const groupIds =
            groupNames && this.groups.filter((g) => groupNames.includes(g.name.toLowerCase())).map((g) => g.id);
          const found = this.computers.filter(
            (c) =>
              (!name || c.fullDomainName.toLowerCase().includes(name)) &&
              (!groupIds || groupIds.some((g) => c.groupIds.has(g))),
          );
          return found.length ? found.map((c) => this.computerObject(c)) : ['No computers available.'];
        },
      },
      'Add-WsusComputer': {
        parameters: ['Computer', 'TargetGroupName', 'UpdateServer'],
        run: (input, params) => {
          const groupName = str(params, 'TargetGroupName') ?? '';
          const group = this.groups.find((g) => g.name.toLowerCase() === groupName.toLowerCase());
          if (!group)
            throw new PsError(
              `Add-WsusComputer : The computer target group "${groupName}" does not exist.`,
              'ObjectNotFound: (:) [Add-WsusComputer], ArgumentException',
              'TargetGroupNotFound,Microsoft.UpdateServices.Commands.AddWsusComputerCommand',
            );
          const given = params.get('Computer');
          for (const item of given === undefined ? input : [given].flat()) {
            const id = item && typeof item === 'object' && !Array.isArray(item) ? String(item['Id']) : '';
            const c = this.computers.find((x) => x.id === id);
            if (!c)
              throw new PsError(
                "Add-WsusComputer : Cannot bind argument to parameter 'Computer' because it is not a WsusComputer.",
                'InvalidData: (:) [Add-WsusComputer], ParameterBindingValidationException',
                'ParameterArgumentValidationError,Microsoft.UpdateServices.Commands.AddWsusComputerCommand',
              );
            c.groupIds.add(group.id);
          }
          return [];
        },
      },
    };
  }

  private updateFromWsusUpdate(value: PsValue): Update {
    const inner = value && typeof value === 'object' && !Array.isArray(value) ? value['Update'] : null;
    const idObj = inner && typeof inner === 'object' && !Array.isArray(inner) ? inner['Id'] : null;
    const id = idObj && typeof idObj === 'object' && !Array.isArray(idObj) ? String(idObj['UpdateId']) : '';
    const u = this.updates.find((x) => x.id === id);
    if (!u)
      throw new PsError(
        "Approve-WsusUpdate : Cannot bind argument to parameter 'Update' because it is null.",
        'InvalidData: (:) [Approve-WsusUpdate], ParameterBindingValidationException',
        'ParameterArgumentValidationErrorNullNotAllowed,Microsoft.UpdateServices.Commands.ApproveWsusUpdateCommand',
      );
    return u;
  }
}

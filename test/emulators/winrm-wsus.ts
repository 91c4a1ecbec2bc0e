/**
 * A WSUS server reached over WinRM: the WinRM emulator with a PowerShell host that knows the
 * UpdateServices objects Patchflow uses, over an in-memory WSUS (computers, target groups,
 * updates, licence agreements, approvals, per-computer installation state). Shapes and
 * behaviour follow the documentation:
 * - Get-WsusServer, Get-WsusUpdate -UpdateId (a WsusUpdate whose `Update` is the IUpdate):
 *   https://learn.microsoft.com/en-us/powershell/module/updateservices/
 * - IUpdateServer: GetComputerTargetGroups(), GetComputerTargetGroup(Guid) (the built-in groups
 *   by ComputerTargetGroupId.AllComputers a0a08746-… and UnassignedComputers b73ca6ed-…,
 *   whatever their localized names), GetComputerTargets(), GetComputerTarget(String),
 *   SearchUpdates(String) (case-insensitive substring of title, description or KB number; empty
 *   or over 255 characters is ArgumentOutOfRangeException):
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ms747015(v=vs.85)
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ms747116(v=vs.85)
 * - IComputerTargetGroup.AddComputerTarget (the computer leaves Unassigned Computers):
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/bb313310(v=vs.85)
 * - IComputerTarget (Id, FullDomainName, IPAddress — a System.Net.IPAddress, see
 *   `ipAddressObject` — OSDescription, ComputerTargetGroupIds):
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/aa354292(v=vs.85)
 * - IUpdate.Approve(action, group[, deadline]) (one approval per update and group; Install
 *   refused with InvalidOperationException until the licence is accepted; only Install,
 *   Uninstall, Scan and Block are valid actions), IUpdate.GetUpdateApprovals(group) and
 *   IUpdateApproval.Delete(), RequiresLicenseAgreementAcceptance and AcceptLicenseAgreement()
 *   (WsusObjectNotFoundException for an update without a licence):
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ms747129(v=vs.85)
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ms752706(v=vs.85)
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ms747124(v=vs.85)
 * - IUpdate.GetUpdateInstallationInfoPerComputerTarget, IUpdateInstallationInfo
 *   (ComputerTargetId, UpdateId, UpdateInstallationState) and the UpdateInstallationState
 *   enumeration (Unknown 0, NotApplicable 1, NotInstalled 2, Downloaded 3, Installed 4,
 *   Failed 5, InstalledPendingReboot 6):
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ms747134(v=vs.85)
 *   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/aa354271(v=vs.85)
 * Clients act on approvals the way Windows Update clients do, at their next detection: each
 * per-computer state query counts as one report, and an approval takes effect after
 * `reportsBeforeAction`. A client whose policy only notifies downloads and waits for a person,
 * unless the approval's deadline has passed ("Plan Automatic Updates Settings": at the deadline
 * the client installs, overriding its settings; a past deadline installs at the next contact):
 * https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-server-2008-R2-and-2008/dd939923(v=ws.10)
 * An update that needs a restart leaves the computer InstalledPendingReboot until `restart`.
 */
import { randomUUID } from 'node:crypto';
import {
  PowerShellHost,
  PsError,
  dateOf,
  ipAddressObject,
  methodException,
  psObject,
  type Cmdlet,
  type CmdletCall,
  type PowerShellVersion,
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

/** ComputerTargetGroupId.AllComputers and .UnassignedComputers. */
export const builtInGroupIds = {
  allComputers: 'a0a08746-4dbe-4a37-9adf-9e7652c0b421',
  unassignedComputers: 'b73ca6ed-5727-47f3-84de-015e03f6a88a',
} as const;

type ApprovalAction = 'Install' | 'Uninstall';

interface Computer {
  id: string;
  fullDomainName: string;
  ipAddress: string;
  osDescription: string;
  /** Groups it was explicitly added to; All Computers and Unassigned Computers follow from these. */
  groupIds: Set<string>;
  notifyOnly: boolean;
  restartRequired: boolean;
  installed: Set<string>;
  pendingReboot: Set<string>;
  failed: Set<string>;
}

interface Update {
  id: string;
  title: string;
  kb: string;
  classification: string;
  uninstallable: boolean;
  declined: boolean;
  hasLicense: boolean;
  licenseAccepted: boolean;
}

export interface Approval {
  id: string;
  updateId: string;
  groupId: string;
  groupName: string;
  action: ApprovalAction;
  deadline: Date | undefined;
}

export interface WsusEmulatorOptions extends Omit<WinRmEmulatorOptions, 'handlers'> {
  reportsBeforeAction?: number;
  /** powershell.exe on Windows Server is Windows PowerShell 5.1; '7' writes PowerShell 7's JSON shapes. */
  powershellVersion?: PowerShellVersion;
  /** The built-in groups' names, which a localized WSUS shows in its own language. */
  builtInGroupNames?: { allComputers: string; unassignedComputers: string };
}

export class WsusEmulator {
  readonly winrm: WinRmEmulator;
  readonly cmdletCalls: CmdletCall[] = [];
  /** The approvals WSUS holds now: at most one per update and group. */
  readonly approvals: Approval[] = [];
  /** Every SearchUpdates text, in order. */
  readonly searches: string[] = [];
  /** Installs and uninstalls clients performed; a no-op deployment leaves this unchanged. */
  hostChanges = 0;
  private readonly computers: Computer[] = [];
  private readonly updates: Update[] = [];
  private readonly groups: { id: string; name: string }[] = [];
  private readonly failInstall = new Set<string>();
  private readonly reports = new Map<string, number>();
  private readonly reportsBeforeAction: number;
  private readonly powershellVersion: PowerShellVersion;

  constructor(opts: WsusEmulatorOptions) {
    const { reportsBeforeAction, powershellVersion, builtInGroupNames, ...winrm } = opts;
    this.reportsBeforeAction = reportsBeforeAction ?? 1;
    this.powershellVersion = powershellVersion ?? '5.1';
    const names = builtInGroupNames ?? { allComputers: 'All Computers', unassignedComputers: 'Unassigned Computers' };
    this.groups.push({ id: builtInGroupIds.allComputers, name: names.allComputers });
    this.groups.push({ id: builtInGroupIds.unassignedComputers, name: names.unassignedComputers });
    this.winrm = new WinRmEmulator({ ...winrm, handlers: [this.powershellHandler] });
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
    /** Automatic Updates configured to notify (AUOptions 2 or 3): installs only at a deadline. */
    notifyOnly?: boolean;
    /** The updates it installs need a restart to finish. */
    restartRequired?: boolean;
  }): void {
    this.computers.push({
      id: randomUUID(),
      fullDomainName: c.fullDomainName,
      ipAddress: c.ipAddress ?? '10.0.0.1',
      osDescription: c.osDescription ?? 'Windows Server 2022 Datacenter',
      groupIds: new Set((c.groups ?? []).map((g) => this.groupId(g))),
      notifyOnly: c.notifyOnly ?? false,
      restartRequired: c.restartRequired ?? false,
      installed: new Set(this.updates.filter((u) => (c.installedKbs ?? []).includes(u.kb)).map((u) => u.id)),
      pendingReboot: new Set(),
      failed: new Set(),
    });
  }

  addUpdate(u: {
    title: string;
    kb: string;
    classification?: string;
    uninstallable?: boolean;
    id?: string;
    /** The update comes with a licence agreement an administrator must accept before approving it. */
    licenseAgreement?: boolean;
  }): string {
    const id = u.id ?? randomUUID();
    this.updates.push({
      id,
      title: u.title,
      kb: u.kb.replace(/^KB/i, ''),
      classification: u.classification ?? 'Security Updates',
      uninstallable: u.uninstallable ?? true,
      declined: false,
      hasLicense: u.licenseAgreement ?? false,
      licenseAccepted: false,
    });
    return id;
  }

  failInstallOn(fullDomainName: string): void {
    this.failInstall.add(fullDomainName.toLowerCase());
  }

  /** The computer restarts: installs waiting for it finish. */
  restart(fullDomainName: string): void {
    this.computer(fullDomainName).pendingReboot.clear();
  }

  isInstalled(fullDomainName: string, kb: string): boolean {
    const c = this.computers.find((x) => x.fullDomainName.toLowerCase() === fullDomainName.toLowerCase());
    const ids = this.updates.filter((u) => u.kb === kb.replace(/^KB/i, '')).map((u) => u.id);
    return !!c && ids.some((id) => c.installed.has(id));
  }

  licenseAccepted(kb: string): boolean {
    return this.updates.some((u) => u.kb === kb.replace(/^KB/i, '') && u.licenseAccepted);
  }

  groupMembers(name: string): string[] {
    const id = this.groupId(name);
    return this.computers.filter((c) => this.memberships(c).has(id)).map((c) => c.fullDomainName);
  }

  private computer(fullDomainName: string): Computer {
    const c = this.computers.find((x) => x.fullDomainName.toLowerCase() === fullDomainName.toLowerCase());
    if (!c) throw new Error(`no computer ${fullDomainName}`);
    return c;
  }

  private groupId(name: string): string {
    const g = this.groups.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!g) throw new Error(`no group ${name}`);
    return g.id;
  }

  /** Every computer is in All Computers, and in Unassigned Computers until it is added to a group. */
  private memberships(c: Computer): Set<string> {
    return new Set([
      builtInGroupIds.allComputers,
      ...(c.groupIds.size ? c.groupIds : [builtInGroupIds.unassignedComputers]),
    ]);
  }

  private readonly powershellHandler: CommandHandler = (cmd) => {
    if (!/(^|\\)powershell(\.exe)?$/i.test(cmd.command)) return undefined;
    const at = cmd.argv.findIndex((a) => /^-(EncodedCommand|enc|ec)$/i.test(a));
    if (at < 0 || !cmd.argv[at + 1])
      return { stdout: '', stderr: 'powershell.exe: this host only runs -EncodedCommand scripts\r\n', exitCode: 1 };
    const script = Buffer.from(cmd.argv[at + 1]!, 'base64').toString('utf16le');
    const host = new PowerShellHost(this.cmdlets(), this.powershellVersion);
    const out = host.run(script);
    this.cmdletCalls.push(...host.calls);
    return out;
  };

  /** What a client reports for one update now, after acting on an approval if its detection is due. */
  private stateOf(c: Computer, u: Update): number {
    const approval = this.effectiveApproval(c, u);
    const wants =
      (approval?.action === 'Install' && !c.installed.has(u.id) && !c.failed.has(u.id)) ||
      (approval?.action === 'Uninstall' && c.installed.has(u.id));
    if (approval && wants) {
      const key = `${c.id}|${u.id}|${approval.action}`;
      const seen = (this.reports.get(key) ?? 0) + 1;
      this.reports.set(key, seen);
      const deadlinePassed = !!approval.deadline && approval.deadline.getTime() <= Date.now();
      if (seen > this.reportsBeforeAction && (!c.notifyOnly || deadlinePassed)) {
        this.reports.delete(key);
        this.hostChanges++;
        if (approval.action === 'Uninstall') {
          c.installed.delete(u.id);
          c.pendingReboot.delete(u.id);
        } else if (this.failInstall.has(c.fullDomainName.toLowerCase())) c.failed.add(u.id);
        else {
          c.installed.add(u.id);
          if (c.restartRequired) c.pendingReboot.add(u.id);
        }
      }
    }
    if (c.pendingReboot.has(u.id)) return installationState.InstalledPendingReboot;
    if (c.installed.has(u.id)) return installationState.Installed;
    if (c.failed.has(u.id)) return installationState.Failed;
    return approval?.action === 'Install' ? installationState.Downloaded : installationState.NotInstalled;
  }

  /** The approval that applies to a computer: the latest one for any group it belongs to. */
  private effectiveApproval(c: Computer, u: Update): Approval | undefined {
    const groups = this.memberships(c);
    return this.approvals.filter((a) => a.updateId === u.id && groups.has(a.groupId)).at(-1);
  }

  private groupObject(g: { id: string; name: string }): PsObject {
    return psObject(
      { Id: g.id, Name: g.name, Description: '' },
      {
        ToString: () => g.name,
        AddComputerTarget: (target) => {
          const c = this.computers.find((x) => x.id === idOf(target));
          if (!c)
            throw methodException(
              'AddComputerTarget',
              1,
              'Value cannot be null.\r\nParameter name: target',
              'ArgumentNullException',
            );
          if (g.id === builtInGroupIds.allComputers || g.id === builtInGroupIds.unassignedComputers)
            throw methodException(
              'AddComputerTarget',
              1,
              'A computer cannot be added to a built-in computer target group.',
              'InvalidOperationException',
            );
          c.groupIds.add(g.id);
          return null;
        },
      },
      { typeName: 'Microsoft.UpdateServices.Internal.BaseApi.ComputerTargetGroup' },
    );
  }

  private computerObject(c: Computer): PsObject {
    return psObject(
      {
        Id: c.id,
        FullDomainName: c.fullDomainName,
        IPAddress: ipAddressObject(c.ipAddress),
        OSDescription: c.osDescription,
        ComputerTargetGroupIds: [...this.memberships(c)],
        LastReportedStatusTime: '2026-11-20T08:00:00',
      },
      {},
      { typeName: 'Microsoft.UpdateServices.Internal.BaseApi.ComputerTarget' },
    );
  }

  private approvalObject(a: Approval): PsObject {
    return psObject(
      {
        Id: a.id,
        Action: a.action,
        ComputerTargetGroupId: a.groupId,
        UpdateId: psObject({ UpdateId: a.updateId, RevisionNumber: 1 }),
      },
      {
        Delete: () => {
          const at = this.approvals.indexOf(a);
          if (at >= 0) this.approvals.splice(at, 1);
          return null;
        },
      },
      { typeName: 'Microsoft.UpdateServices.Internal.BaseApi.UpdateApproval' },
    );
  }

  private updateObject(u: Update): PsObject {
    const targetGroup = (method: string, argc: number, value: PsValue) => {
      const g = this.groups.find((x) => x.id === idOf(value));
      if (!g)
        throw methodException(
          method,
          argc,
          'Value cannot be null.\r\nParameter name: targetGroup',
          'ArgumentNullException',
        );
      return g;
    };
    return psObject(
      {
        Id: psObject({ UpdateId: u.id, RevisionNumber: 1 }),
        Title: u.title,
        KnowledgebaseArticles: [u.kb],
        UpdateClassificationTitle: u.classification,
        IsDeclined: u.declined,
        HasLicenseAgreement: u.hasLicense,
        RequiresLicenseAgreementAcceptance: u.hasLicense && !u.licenseAccepted,
      },
      {
        AcceptLicenseAgreement: () => {
          if (!u.hasLicense)
            throw methodException(
              'AcceptLicenseAgreement',
              0,
              'The update does not have an associated license agreement.',
              'WsusObjectNotFoundException',
            );
          u.licenseAccepted = true;
          return null;
        },
        Approve: (...args) => {
          const [actionArg, groupArg, deadlineArg] = args;
          const action = (['Install', 'Uninstall'] as const).find(
            (a) => a.toLowerCase() === String(actionArg).toLowerCase(),
          );
          if (!action)
            throw methodException(
              'Approve',
              args.length,
              'The value for action is not valid. Only Install, Uninstall, Scan, and Block are valid values.\r\nParameter name: action',
              'ArgumentOutOfRangeException',
            );
          const g = targetGroup('Approve', args.length, groupArg ?? null);
          const deadline = deadlineArg === undefined ? undefined : dateOf(deadlineArg);
          if (deadlineArg !== undefined && !deadline)
            throw methodException(
              'Approve',
              args.length,
              `Cannot convert argument "deadline", with value: "${String(deadlineArg)}", for "Approve" to type "System.DateTime"`,
              'MethodArgumentConversionInvalidCastArgument',
            );
          if (action === 'Install' && u.hasLicense && !u.licenseAccepted)
            throw methodException(
              'Approve',
              args.length,
              'You must accept the license agreement for this update before you can approve the update for deployment.',
              'InvalidOperationException',
            );
          if (action === 'Uninstall' && !u.uninstallable)
            throw methodException(
              'Approve',
              args.length,
              `The update ${u.title} cannot be uninstalled.`,
              'InvalidOperationException',
            );
          const replaced = this.approvals.findIndex((a) => a.updateId === u.id && a.groupId === g.id);
          if (replaced >= 0) this.approvals.splice(replaced, 1);
          const approval: Approval = {
            id: randomUUID(),
            updateId: u.id,
            groupId: g.id,
            groupName: g.name,
            action,
            deadline,
          };
          this.approvals.push(approval);
          return this.approvalObject(approval);
        },
        GetUpdateApprovals: (group) => {
          const g = targetGroup('GetUpdateApprovals', 1, group);
          return this.approvals
            .filter((a) => a.updateId === u.id && a.groupId === g.id)
            .map((a) => this.approvalObject(a));
        },
        GetUpdateInstallationInfoPerComputerTarget: (group) => {
          const g = targetGroup('GetUpdateInstallationInfoPerComputerTarget', 1, group);
          return this.computers
            .filter((c) => this.memberships(c).has(g.id))
            .map((c) =>
              psObject({
                ComputerTargetId: c.id,
                UpdateId: u.id,
                UpdateInstallationState: this.stateOf(c, u),
                UpdateApprovalAction: this.effectiveApproval(c, u)?.action === 'Install' ? 0 : 3,
              }),
            );
        },
      },
      { typeName: 'Microsoft.UpdateServices.Internal.BaseApi.Update' },
    );
  }

  private serverObject(): PsObject {
    const notFound = (method: string, what: string) =>
      methodException(method, 1, `${what} was not found on this WSUS server.`, 'WsusObjectNotFoundException');
    return psObject(
      { Name: 'wsus01', PortNumber: 8530 },
      {
        GetComputerTargetGroups: () => this.groups.map((g) => this.groupObject(g)),
        GetComputerTargetGroup: (id) => {
          const g = this.groups.find((x) => x.id.toLowerCase() === String(id).toLowerCase());
          if (!g) throw notFound('GetComputerTargetGroup', `The computer target group ${String(id)}`);
          return this.groupObject(g);
        },
        GetComputerTargets: () => this.computers.map((c) => this.computerObject(c)),
        GetComputerTarget: (id) => {
          const c = this.computers.find((x) => x.id.toLowerCase() === String(id).toLowerCase());
          if (!c) throw notFound('GetComputerTarget', `The computer ${String(id)}`);
          return this.computerObject(c);
        },
        SearchUpdates: (text) => {
          const wanted = String(text ?? '').toLowerCase();
          if (wanted.length === 0 || wanted.length > 255)
            throw methodException(
              'SearchUpdates',
              1,
              'searchText cannot be an empty string or greater than 255 characters.',
              'ArgumentOutOfRangeException',
            );
          this.searches.push(String(text));
          return this.updates
            .filter((u) => u.title.toLowerCase().includes(wanted) || u.kb.includes(wanted))
            .map((u) => this.updateObject(u));
        },
      },
      { typeName: 'Microsoft.UpdateServices.Internal.BaseApi.UpdateServer' },
    );
  }

  private cmdlets(): Record<string, Cmdlet> {
    return {
      'Get-WsusServer': { parameters: ['Name', 'PortNumber', 'UseSsl'], run: () => [this.serverObject()] },
      'Get-WsusUpdate': {
        parameters: ['UpdateId', 'RevisionNumber', 'Classification', 'Approval', 'Status', 'UpdateServer'],
        run: (_input, params) => {
          const id = params.get('UpdateId');
          if (id === undefined || id === null)
            throw new PsError(
              'Get-WsusUpdate : this emulator implements Get-WsusUpdate -UpdateId only.',
              'NotImplemented: (:) [Get-WsusUpdate], NotSupportedException',
              'NotImplemented,Microsoft.UpdateServices.Commands.GetWsusUpdateCommand',
            );
          const u = this.updates.find((x) => x.id.toLowerCase() === String(id).toLowerCase());
          if (!u)
            throw new PsError(
              `Get-WsusUpdate : The update "${String(id)}" could not be found.`,
              'ObjectNotFound: (:) [Get-WsusUpdate], WsusObjectNotFoundException',
              'UpdateNotFound,Microsoft.UpdateServices.Commands.GetWsusUpdateCommand',
            );
          return [
            psObject({
              Update: this.updateObject(u),
              Classification: u.classification,
              Approved: this.approvals.some((a) => a.updateId === u.id && a.action === 'Install')
                ? 'Install'
                : 'NotApproved',
            }),
          ];
        },
      },
    };
  }
}

function idOf(value: PsValue | undefined): string {
  return value && typeof value === 'object' && !Array.isArray(value) ? String(value['Id']) : '';
}

/**
 * A PDQ Deploy console server reached over WinRM: the WinRM emulator with two command handlers.
 * - `PDQDeploy.exe Deploy -Package <name> -Targets <host> [<host> …]` starts a deployment and
 *   prints its ID; like the real CLI it exits 0 even when it refuses (unknown package), so the
 *   caller must read the output. `PDQDeploy.exe GetPackageNames` lists packages.
 *   https://www.powershellgallery.com/packages/PdqStuff/6.2.1/Content/Public%5CStart-PdqDeployment.ps1
 *   https://documentation.pdq.com/PDQDeploy/19.2.137.0/package-deploy-settings.htm
 * - `sqlite3.exe -json -readonly <Database.db> "<SELECT …>"` reads deployment status from the
 *   console database, the documented-by-practice way to follow a CLI deployment: Deployments
 *   (DeploymentId, PackageName, Status Queued|Running|Finished), DeploymentComputers
 *   (DeploymentComputerId, DeploymentId, Name, Status Successful|Failed, Error) and
 *   DeploymentComputerSteps (DeploymentComputerId, Number, Title, Status Successful|Failed|Skipped).
 *   Only `SELECT <columns> FROM <table> WHERE <column> = <n> | IN (<n>, …)` is understood.
 * Package steps have conditions: an install step is Skipped on a host that already has the
 * patch, which is how a deployment shows it changed nothing. A deployment finishes after a
 * number of status reads.
 */
import { WinRmEmulator, type CommandHandler, type WinRmEmulatorOptions } from './winrm.ts';

type PackageKind = 'install' | 'verify' | 'uninstall';
type Row = Record<string, string | number | null>;

interface Computer {
  id: number;
  name: string;
  status: 'Queued' | 'Running' | 'Successful' | 'Failed';
  error: string | null;
  step: { title: string; status: 'Successful' | 'Failed' | 'Skipped' } | undefined;
}

interface Deployment {
  id: number;
  packageName: string;
  status: 'Queued' | 'Running' | 'Finished';
  reads: number;
  computers: Computer[];
}

export interface PdqEmulatorOptions extends Omit<WinRmEmulatorOptions, 'handlers'> {
  readsToFinish?: number;
}

export class PdqEmulator {
  readonly winrm: WinRmEmulator;
  readonly deployCommands: string[][] = [];
  hostChanges = 0;
  private readonly packages = new Map<string, { kind: PackageKind; patch: string }>();
  private readonly hosts = new Map<string, { installed: Set<string>; offline: boolean; failInstall: boolean }>();
  private readonly deployments: Deployment[] = [];
  private nextComputerId = 1;

  constructor(private readonly opts: PdqEmulatorOptions) {
    this.winrm = new WinRmEmulator({ ...opts, handlers: [this.pdqDeploy, this.sqlite] });
  }

  async start(): Promise<this> {
    await this.winrm.start();
    return this;
  }

  close(): Promise<void> {
    return this.winrm.close();
  }

  addPackage(name: string, kind: PackageKind, patch: string): void {
    this.packages.set(name.toLowerCase(), { kind, patch });
  }

  addHost(name: string, opts: { offline?: boolean; failInstall?: boolean; installed?: string[] } = {}): void {
    this.hosts.set(name.toLowerCase(), {
      installed: new Set(opts.installed ?? []),
      offline: opts.offline ?? false,
      failInstall: opts.failInstall ?? false,
    });
  }

  isInstalled(host: string, patch: string): boolean {
    return this.hosts.get(host.toLowerCase())?.installed.has(patch) ?? false;
  }

  private readonly pdqDeploy: CommandHandler = (cmd) => {
    if (!/(^|\\)PDQDeploy\.exe$/i.test(cmd.command)) return undefined;
    const [verb, ...rest] = cmd.argv;
    if (verb?.toLowerCase() === 'getpackagenames')
      return { stdout: [...this.packages.keys()].map((p) => `${p}\r\n`).join(''), stderr: '', exitCode: 0 };
    if (verb?.toLowerCase() !== 'deploy')
      return { stdout: `Unknown command "${verb ?? ''}".\r\n`, stderr: '', exitCode: 1 };
    this.deployCommands.push(cmd.argv);
    const at = (flag: string) => rest.findIndex((a) => a.toLowerCase() === flag);
    const packageName = rest[at('-package') + 1];
    const targets = at('-targets') >= 0 ? rest.slice(at('-targets') + 1).filter((a) => !a.startsWith('-')) : [];
    if (at('-package') < 0 || !packageName || targets.length === 0)
      return {
        stdout: 'Usage: PDQDeploy.exe Deploy -Package <name> -Targets <computer> [<computer> ...]\r\n',
        stderr: '',
        exitCode: 0,
      };
    if (!this.packages.has(packageName.toLowerCase()))
      return { stdout: `Package "${packageName}" does not exist.\r\n`, stderr: '', exitCode: 0 };
    const deployment: Deployment = {
      id: this.deployments.length + 1,
      packageName,
      status: 'Queued',
      reads: 0,
      computers: targets.map((name) => ({
        id: this.nextComputerId++,
        name,
        status: 'Queued',
        error: null,
        step: undefined,
      })),
    };
    this.deployments.push(deployment);
    return {
      stdout: `Deploying "${packageName}" to ${targets.length} target(s).\r\nDeployment ID: ${deployment.id}\r\n`,
      stderr: '',
      exitCode: 0,
    };
  };

  private readonly sqlite: CommandHandler = (cmd) => {
    if (!/(^|\\)sqlite3\.exe$/i.test(cmd.command)) return undefined;
    const sql = cmd.argv.at(-1) ?? '';
    const m =
      /^\s*SELECT\s+([\w\s,]+?)\s+FROM\s+(\w+)\s+WHERE\s+(\w+)\s*(?:=\s*(\d+)|IN\s*\(\s*([\d\s,]+)\))\s*;?\s*$/i.exec(
        sql,
      );
    if (!m || !cmd.argv.includes('-json'))
      return { stdout: '', stderr: `Error: in prepare, near "${sql.slice(0, 20)}": syntax error\r\n`, exitCode: 1 };
    const columns = m[1]!.split(',').map((c) => c.trim());
    const wanted = new Set((m[4] ?? m[5]!).split(',').map((n) => Number(n.trim())));
    const table = this.table(m[2]!);
    if (!table) return { stdout: '', stderr: `Error: in prepare, no such table: ${m[2]}\r\n`, exitCode: 1 };
    const rows = table
      .filter((r) => wanted.has(Number(r[m[3]!])))
      .map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null])));
    // sqlite3 -json prints nothing at all for an empty result.
    return { stdout: rows.length ? `${JSON.stringify(rows)}\r\n` : '', stderr: '', exitCode: 0 };
  };

  private table(name: string): Row[] | undefined {
    switch (name.toLowerCase()) {
      case 'deployments':
        return this.deployments.map((d) => {
          this.advance(d);
          return { DeploymentId: d.id, PackageName: d.packageName, Status: d.status };
        });
      case 'deploymentcomputers':
        return this.deployments.flatMap((d) =>
          d.computers.map((c) => ({
            DeploymentComputerId: c.id,
            DeploymentId: d.id,
            Name: c.name,
            Status: c.status,
            Error: c.error,
          })),
        );
      case 'deploymentcomputersteps':
        return this.deployments.flatMap((d) =>
          d.computers.flatMap((c) =>
            c.step ? [{ DeploymentComputerId: c.id, Number: 1, Title: c.step.title, Status: c.step.status }] : [],
          ),
        );
      default:
        return undefined;
    }
  }

  /** Each status read moves a deployment along; on the last one the package runs on every target. */
  private advance(d: Deployment): void {
    if (d.status === 'Finished') return;
    d.reads++;
    d.status = 'Running';
    if (d.reads < (this.opts.readsToFinish ?? 2)) return;
    const pkg = this.packages.get(d.packageName.toLowerCase())!;
    for (const c of d.computers) Object.assign(c, this.run(pkg, c.name));
    d.status = 'Finished';
  }

  private run(pkg: { kind: PackageKind; patch: string }, name: string): Pick<Computer, 'status' | 'error' | 'step'> {
    const host = this.hosts.get(name.toLowerCase());
    if (!host)
      return { status: 'Failed', error: `Unable to resolve host name "${name}" (DNS lookup failed).`, step: undefined };
    if (host.offline)
      return { status: 'Failed', error: 'The target computer is offline (ping failed).', step: undefined };
    const has = host.installed.has(pkg.patch);
    if (pkg.kind === 'verify') {
      return has
        ? { status: 'Successful', error: null, step: { title: `Check ${pkg.patch}`, status: 'Successful' } }
        : {
            status: 'Failed',
            error: `${pkg.patch} is not installed (exit code 1)`,
            step: { title: `Check ${pkg.patch}`, status: 'Failed' },
          };
    }
    const title = `${pkg.kind === 'install' ? 'Install' : 'Uninstall'} ${pkg.patch}`;
    const needed = pkg.kind === 'install' ? !has : has;
    if (!needed) return { status: 'Successful', error: null, step: { title, status: 'Skipped' } };
    if (pkg.kind === 'install' && host.failInstall)
      return {
        status: 'Failed',
        error: 'Install step failed: exit code 1603 (Fatal error during installation).',
        step: { title, status: 'Failed' },
      };
    if (pkg.kind === 'install') host.installed.add(pkg.patch);
    else host.installed.delete(pkg.patch);
    this.hostChanges++;
    return { status: 'Successful', error: null, step: { title, status: 'Successful' } };
  }
}

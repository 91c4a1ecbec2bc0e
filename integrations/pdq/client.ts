import { z } from 'zod';
import { NotFoundError, UpstreamError } from '../../kernel/errors.ts';
import type { WinRmClient } from '../kit/winrm/client.ts';
import type { PdqConfig } from './config.ts';

const deploymentSchema = z.object({ DeploymentId: z.number(), Status: z.string() });
const computerSchema = z.object({
  DeploymentComputerId: z.number(),
  Name: z.string(),
  Status: z.string(),
  Error: z.string().nullable(),
});
const stepSchema = z.object({ DeploymentComputerId: z.number(), Title: z.string(), Status: z.string() });
export type DeploymentComputer = z.infer<typeof computerSchema> & { steps: z.infer<typeof stepSchema>[] };

/** PDQ Deploy's command line and its console database, both reached through a WinRM shell on the console. */
export class PdqClient {
  constructor(
    private readonly winrm: WinRmClient,
    private readonly config: Pick<PdqConfig, 'pdqDeployPath' | 'sqlitePath' | 'databasePath'>,
  ) {}

  async packageNames(signal?: AbortSignal): Promise<string[]> {
    const out = await this.winrm.run(this.config.pdqDeployPath, ['GetPackageNames'], signal);
    if (out.exitCode !== 0)
      throw new UpstreamError(`PDQDeploy.exe GetPackageNames failed: ${(out.stderr || out.stdout).trim()}`);
    return out.stdout
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** Starts a deployment and returns its ID. The CLI exits 0 even when it refuses, so its output decides. */
  async deploy(packageName: string, targets: string[], signal?: AbortSignal): Promise<number> {
    const out = await this.winrm.run(
      this.config.pdqDeployPath,
      ['Deploy', '-Package', packageName, '-Targets', ...targets],
      signal,
    );
    const id = /Deployment\s*ID\s*:?\s*(\d+)/i.exec(out.stdout);
    if (id && out.exitCode === 0) return Number(id[1]);
    const said = (out.stdout + out.stderr).trim() || `exit code ${out.exitCode}`;
    if (/does not exist|not found/i.test(said))
      throw new NotFoundError(`PDQ Deploy has no package "${packageName}": ${said}`);
    throw new UpstreamError(`PDQDeploy.exe Deploy did not start a deployment: ${said}`);
  }

  async deploymentStatus(id: number, signal?: AbortSignal): Promise<string | undefined> {
    const rows = await this.query(
      `SELECT DeploymentId, Status FROM Deployments WHERE DeploymentId = ${id}`,
      deploymentSchema,
      signal,
    );
    return rows[0]?.Status;
  }

  async computers(id: number, signal?: AbortSignal): Promise<DeploymentComputer[]> {
    const computers = await this.query(
      `SELECT DeploymentComputerId, Name, Status, Error FROM DeploymentComputers WHERE DeploymentId = ${id}`,
      computerSchema,
      signal,
    );
    if (computers.length === 0) return [];
    const steps = await this.query(
      `SELECT DeploymentComputerId, Title, Status FROM DeploymentComputerSteps WHERE DeploymentComputerId IN (${computers.map((c) => c.DeploymentComputerId).join(', ')})`,
      stepSchema,
      signal,
    );
    return computers.map((c) => ({
      ...c,
      steps: steps.filter((s) => s.DeploymentComputerId === c.DeploymentComputerId),
    }));
  }

  /** Runs a read-only query; only integers are ever interpolated into it. */
  private async query<S extends z.ZodType>(sql: string, row: S, signal?: AbortSignal): Promise<z.output<S>[]> {
    const out = await this.winrm.run(
      this.config.sqlitePath,
      ['-json', '-readonly', this.config.databasePath, sql],
      signal,
    );
    if (out.exitCode !== 0)
      throw new UpstreamError(`reading the PDQ Deploy database failed: ${(out.stderr || out.stdout).trim()}`, {
        retryable: !/syntax error|no such (table|column)/.test(out.stderr),
      });
    if (out.stdout.trim() === '') return [];
    let json: unknown;
    try {
      json = JSON.parse(out.stdout);
    } catch {
      throw new UpstreamError(`sqlite3 printed something that is not JSON: ${out.stdout.slice(0, 200)}`, {
        retryable: false,
      });
    }
    const parsed = z.array(row).safeParse(json);
    if (!parsed.success)
      throw new UpstreamError(
        `unexpected rows from the PDQ Deploy database: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        { retryable: false },
      );
    return parsed.data;
  }
}

/**
 * The WinRM emulator driven by pywinrm, a WinRM client we did not write, so that the emulator is
 * checked against a real client and not only against integrations/kit/winrm. pywinrm runs each
 * command the way its users do: Create a cmd shell, Command, Receive until CommandState Done,
 * Signal terminate, Delete ([MS-WSMV] 3.1.4.5, 3.1.4.11, 3.1.4.14, 3.1.4.12); run_ps sends
 * `powershell -encodedcommand <base64 UTF-16LE>` through cmd.exe and decodes the CLIXML error
 * stream; the driver's skip_cmd_shell mode starts the program directly, as the project's client does.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WinRmClient } from '../../integrations/kit/winrm/client.ts';
import { PdqEmulator } from '../emulators/winrm-pdq.ts';
import { WsusEmulator, type WsusEmulatorOptions } from '../emulators/winrm-wsus.ts';
import type { WinRmEmulator } from '../emulators/winrm.ts';

/** Debian's python3-winrm installs for the system interpreter, which a pyenv earlier on PATH would hide. */
const python = '/usr/bin/python3';
const driver = fileURLToPath(new URL('./pywinrm/run_command.py', import.meta.url));
const installCommand = 'apt-get install -y python3-winrm';
const credentials = { username: 'CORP\\svc-patchflow', password: 'S3cret!' };
const pdqDeployPath = 'C:\\Program Files (x86)\\Admin Arsenal\\PDQ Deploy\\PDQDeploy.exe';

type PywinrmRequest = { operation_timeout_sec?: number; password?: string } & (
  { script: string } | { command: string; args?: string[]; skip_cmd_shell?: boolean }
);
type PywinrmResult =
  | { status_code: number; std_out: string; std_err: string }
  | { error: string; message: string; wsmanfault_code?: string; http_status?: number };

/** Runs the driver against `emulator` and returns what pywinrm made of the exchange. */
function pywinrm(emulator: WinRmEmulator, request: PywinrmRequest): Promise<PywinrmResult> {
  const input = JSON.stringify({ endpoint: emulator.url, ...credentials, ...request });
  return new Promise((resolve, reject) => {
    const child = spawn(python, [driver], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) reject(new Error(`pywinrm driver exited ${code ?? signal}: ${stderr.trim()}`));
      else resolve(JSON.parse(stdout) as PywinrmResult);
    });
    child.stdin.end(input);
  });
}

function ran(result: PywinrmResult): { status_code: number; std_out: string; std_err: string } {
  if ('error' in result) throw new Error(`pywinrm raised ${result.error}: ${result.message}`);
  return result;
}

function actionsOf(emulator: WinRmEmulator): string[] {
  return emulator.exchanges.map((e) => e.action.slice(e.action.lastIndexOf('/') + 1));
}

beforeAll(() => {
  try {
    execFileSync(python, ['-c', 'import winrm'], { stdio: 'pipe', timeout: 20_000 });
  } catch (err) {
    throw new Error(`pywinrm is not importable by ${python}; install it with: ${installCommand}`, { cause: err });
  }
});

describe('the WSUS WinRM emulator, driven by pywinrm', () => {
  let wsus: WsusEmulator | undefined;
  afterEach(async () => {
    await wsus?.close();
    wsus = undefined;
  });

  async function startWsus(opts: Partial<WsusEmulatorOptions> = {}): Promise<WsusEmulator> {
    wsus = await new WsusEmulator({ ...credentials, ...opts }).start();
    wsus.addComputer({ fullDomainName: 'ws01.corp.example' });
    wsus.addComputer({ fullDomainName: 'ws02.corp.example' });
    return wsus;
  }

  const listComputers = '(Get-WsusServer).GetComputerTargets() | Select-Object -ExpandProperty FullDomainName';

  it('runs a PowerShell script through run_ps: shell created, output received in chunks, terminated, deleted', async () => {
    const emu = await startWsus({ chunkBytes: 8 });
    const result = ran(await pywinrm(emu.winrm, { script: listComputers }));
    expect(result).toEqual({ status_code: 0, std_out: 'ws01.corp.example\r\nws02.corp.example\r\n', std_err: '' });
    expect(emu.cmdletCalls.map((c) => c.name)).toEqual(['Get-WsusServer', 'Select-Object']);
    const actions = actionsOf(emu.winrm);
    expect(actions.slice(0, 2)).toEqual(['Create', 'Command']);
    expect(actions.filter((a) => a === 'Receive').length).toBeGreaterThan(2);
    expect(actions.slice(-2)).toEqual(['Signal', 'Delete']);
    expect(emu.winrm.exchanges.at(-2)?.signal).toBe(
      'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate',
    );
    expect(emu.winrm.commandsRun()[0]).toMatchObject({
      command: 'powershell',
      argv: ['-encodedcommand', expect.any(String)],
    });
    expect(emu.winrm.openShellCount()).toBe(0);
  });

  it('gives pywinrm and the project client the same streams and exit code for one script', async () => {
    const emu = await startWsus();
    const ours = await new WinRmClient({
      endpoint: emu.winrm.url,
      ...credentials,
      requestTimeoutMs: 10_000,
      operationTimeoutSec: 5,
    }).runPowerShell(listComputers);
    const theirs = ran(await pywinrm(emu.winrm, { script: listComputers }));
    expect(theirs).toEqual({ status_code: ours.exitCode, std_out: ours.stdout, std_err: ours.stderr });
  });

  it('sends a failing script’s error as CLIXML on stderr, which run_ps decodes, with exit code 1', async () => {
    const emu = await startWsus();
    const result = ran(await pywinrm(emu.winrm, { script: "Get-WsusUpdate -UpdateId 'no-such-update'" }));
    expect(result.status_code).toBe(1);
    expect(result.std_out).toBe('');
    expect(result.std_err).not.toContain('CLIXML');
    expect(result.std_err.split('\n')[0]).toBe('Get-WsusUpdate : The update "no-such-update" could not be found.');
    expect(result.std_err).toContain('FullyQualifiedErrorId : UpdateNotFound');
  });

  it('answers a Receive that times out with WSManFault 2150858793, which pywinrm retries until Done', async () => {
    const emu = await startWsus({ receiveTimeoutsPerCommand: 3 });
    const result = ran(await pywinrm(emu.winrm, { script: listComputers, operation_timeout_sec: 2 }));
    expect(result.std_out).toBe('ws01.corp.example\r\nws02.corp.example\r\n');
    expect(actionsOf(emu.winrm).filter((a) => a === 'Receive').length).toBeGreaterThanOrEqual(4);
  });

  it('refuses a wrong password with HTTP 401, which pywinrm reports as InvalidCredentialsError', async () => {
    const emu = await startWsus();
    const result = await pywinrm(emu.winrm, { script: listComputers, password: 'wrong' });
    expect(result).toMatchObject({ error: 'InvalidCredentialsError' });
    expect(emu.winrm.exchanges).toEqual([]);
  });

  it('runs a command through cmd.exe with run_cmd: an unknown program is cmd.exe’s "not recognized", exit 1', async () => {
    const emu = await startWsus();
    const result = ran(await pywinrm(emu.winrm, { command: 'ipconfig', args: ['/all'] }));
    expect(result).toEqual({
      status_code: 1,
      std_out: '',
      std_err:
        "'ipconfig' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
    });
  });

  it('refuses a command line over 32,767 characters with the fault the project client maps to a refusal (WSManFault 206)', async () => {
    const emu = await startWsus();
    const result = await pywinrm(emu.winrm, {
      command: 'powershell.exe',
      args: ['-EncodedCommand', 'A'.repeat(32_767)],
      skip_cmd_shell: true,
    });
    expect(result).toMatchObject({ error: 'WinRMError', wsmanfault_code: '206' });
    expect('message' in result && result.message).toContain('The filename or extension is too long.');
    expect(emu.cmdletCalls).toEqual([]);
    expect(emu.winrm.openShellCount()).toBe(0);
  });

  it('lets cmd.exe refuse a line over its 8,191 characters when the command is not started directly', async () => {
    const emu = await startWsus();
    const result = ran(
      await pywinrm(emu.winrm, { command: 'powershell', args: ['-encodedcommand', 'A'.repeat(8_200)] }),
    );
    expect(result).toEqual({ status_code: 1, std_out: '', std_err: 'The command line is too long.\r\n' });
    expect(emu.cmdletCalls).toEqual([]);
  });

  it('refuses an envelope over MaxEnvelopeSizekb with HTTP 413 and no body, which pywinrm reports as a transport error', async () => {
    const emu = await startWsus({ maxEnvelopeSizeKb: 32 });
    const result = await pywinrm(emu.winrm, { script: `'${'x'.repeat(14_000)}'` });
    expect(result).toMatchObject({ error: 'WinRMTransportError', http_status: 413 });
    expect(emu.winrm.oversizedRequests).toHaveLength(1);
    expect(emu.winrm.oversizedRequests[0]).toBeGreaterThan(32 * 1024);
  });
});

describe('the PDQ WinRM emulator, driven by pywinrm', () => {
  let pdq: PdqEmulator | undefined;
  afterEach(async () => {
    await pdq?.close();
    pdq = undefined;
  });

  it('runs PDQDeploy.exe by its quoted path through cmd.exe, and directly as the project client starts it', async () => {
    pdq = await new PdqEmulator(credentials).start();
    pdq.addPackage('KB5031356 install', 'install', 'KB5031356');
    const viaCmd = ran(await pywinrm(pdq.winrm, { command: `"${pdqDeployPath}"`, args: ['GetPackageNames'] }));
    const direct = ran(
      await pywinrm(pdq.winrm, { command: pdqDeployPath, args: ['GetPackageNames'], skip_cmd_shell: true }),
    );
    for (const result of [viaCmd, direct])
      expect(result).toEqual({ status_code: 0, std_out: 'kb5031356 install\r\n', std_err: '' });
    expect(pdq.winrm.commandsRun().map((c) => c.command)).toEqual([pdqDeployPath, pdqDeployPath]);
    expect(pdq.winrm.openShellCount()).toBe(0);
  });
});

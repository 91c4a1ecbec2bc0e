import { randomUUID } from 'node:crypto';
import { InputError, NotAllowedError, UpstreamError } from '../../../kernel/errors.ts';
import { basicAuth, errorForStatus, sendHttp } from '../support/http.ts';
import { readableStderr } from './clixml.ts';
import { commandLineFits, commandLineOf, defaultMaxEnvelopeSizeKb, maxCommandLineChars } from './limits.ts';
import { encodePowerShell, windowsArg } from './quoting.ts';
import { actions, cmdShellUri, commandStateDone, ns, receiveTimeoutFaultCode, signals } from './wsman.ts';
import { escapeXml, findElement, findElements, parseXml, type XmlElement } from './xml.ts';

export interface WinRmOptions {
  /** The listener, e.g. `http://wsus01.corp.example:5985/wsman`. */
  endpoint: string;
  username: string;
  password: string;
  /** How long one HTTP exchange may take; a Receive waits up to `operationTimeoutSec` server-side first. */
  requestTimeoutMs: number;
  operationTimeoutSec: number;
  /** The listener's winrm/config MaxEnvelopeSizekb; no request larger than this is sent. */
  maxEnvelopeSizeKb?: number | undefined;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Win32 ERROR_FILENAME_EXCED_RANGE, which WinRS reports when CreateProcess refuses the command line. */
const commandLineTooLongCode = '206';
/** Any real ShellId has this length; measuring an envelope before a shell exists uses it. */
const placeholderShellId = '00000000-0000-0000-0000-000000000000';

interface Fault {
  code: string;
  subcode: string;
  reason: string;
  wsmanCode: string;
}

/**
 * A WinRM (WS-Management remote shell) client: Create a cmd shell, run one command in it,
 * Receive its streams until the command is Done, Signal terminate and Delete the shell. Basic
 * authentication over HTTP(S); message-level encryption (NTLM/Kerberos) is not implemented, so
 * use an HTTPS listener outside a lab.
 */
export class WinRmClient {
  private readonly maxEnvelopeBytes: number;
  constructor(private readonly opts: WinRmOptions) {
    this.maxEnvelopeBytes = (opts.maxEnvelopeSizeKb ?? defaultMaxEnvelopeSizeKb) * 1024;
  }

  /** Runs a PowerShell script and returns its streams, error records decoded from CLIXML. */
  async runPowerShell(script: string, signal?: AbortSignal): Promise<CommandResult> {
    const result = await this.run(powerShellProgram, powerShellArgs(script), signal);
    return { ...result, stderr: readableStderr(result.stderr) };
  }

  /** Whether `runPowerShell(script)` fits Windows' command-line limit and this listener's envelope limit. */
  fitsPowerShell(script: string): boolean {
    const args = powerShellArgs(script);
    if (!commandLineFits(powerShellProgram, args)) return false;
    const envelope = this.envelope(actions.command, {
      shellId: placeholderShellId,
      body: commandBody(powerShellProgram, args),
      options: commandOptions,
    });
    return Buffer.byteLength(envelope, 'utf8') <= this.maxEnvelopeBytes;
  }

  /** Runs a program directly (not through cmd.exe), each argument quoted for the Windows C runtime. */
  async run(command: string, args: readonly string[], signal?: AbortSignal): Promise<CommandResult> {
    if (!commandLineFits(command, args))
      throw new InputError(
        `WinRM Command: the command line would be ${commandLineOf(command, args).length} characters; Windows starts no process with more than ${maxCommandLineChars - 1}`,
      );
    const shellId = await this.createShell(signal);
    try {
      const commandId = await this.startCommand(shellId, command, args, signal);
      try {
        return await this.receiveAll(shellId, commandId, signal);
      } finally {
        // Terminate even after Done: [MS-WSMV] 3.1.4.14 requires a final Signal; after an abort it stops the process.
        await this.signalCommand(shellId, commandId, signal?.aborted ? signals.ctrlC : signals.terminate).catch(
          () => undefined,
        );
      }
    } finally {
      await this.deleteShell(shellId).catch(() => undefined);
    }
  }

  private async createShell(signal?: AbortSignal): Promise<string> {
    const body = `<rsp:Shell xmlns:rsp="${ns.shell}"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`;
    // Code page 65001 makes the remote console write UTF-8, so non-ASCII names survive.
    const doc = await this.exchange(actions.create, {
      body,
      options: { WINRS_NOPROFILE: 'TRUE', WINRS_CODEPAGE: '65001' },
      signal,
    });
    const selector = findElements(doc, ns.wsman, 'Selector').find((s) => s.attrs['Name'] === 'ShellId');
    const shellId = selector?.text.trim() || findElement(doc, ns.shell, 'ShellId')?.text.trim();
    if (!shellId) throw new UpstreamError('WinRM Create answered without a ShellId', { retryable: false });
    return shellId;
  }

  private async startCommand(
    shellId: string,
    command: string,
    args: readonly string[],
    signal?: AbortSignal,
  ): Promise<string> {
    const doc = await this.exchange(actions.command, {
      shellId,
      body: commandBody(command, args),
      options: commandOptions,
      signal,
    });
    const commandId = findElement(doc, ns.shell, 'CommandId')?.text.trim();
    if (!commandId) throw new UpstreamError('WinRM Command answered without a CommandId', { retryable: false });
    return commandId;
  }

  private async receiveAll(shellId: string, commandId: string, signal?: AbortSignal): Promise<CommandResult> {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const body = `<rsp:Receive xmlns:rsp="${ns.shell}"><rsp:DesiredStream CommandId="${escapeXml(commandId)}">stdout stderr</rsp:DesiredStream></rsp:Receive>`;
    for (;;) {
      signal?.throwIfAborted();
      let doc: XmlElement;
      try {
        doc = await this.exchange(actions.receive, { shellId, body, signal });
      } catch (err) {
        if (err instanceof ReceiveTimeout) continue;
        throw err;
      }
      for (const s of findElements(doc, ns.shell, 'Stream')) {
        const bytes = Buffer.from(s.text.trim(), 'base64');
        (s.attrs['Name'] === 'stderr' ? stderr : stdout).push(bytes);
      }
      const state = findElement(doc, ns.shell, 'CommandState');
      if (state?.attrs['State'] === commandStateDone) {
        const exitCode = Number(findElement(state, ns.shell, 'ExitCode')?.text.trim() ?? '0');
        return {
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
          exitCode,
        };
      }
    }
  }

  private async signalCommand(shellId: string, commandId: string, code: string): Promise<void> {
    const body = `<rsp:Signal xmlns:rsp="${ns.shell}" CommandId="${escapeXml(commandId)}"><rsp:Code>${code}</rsp:Code></rsp:Signal>`;
    await this.exchange(actions.signal, { shellId, body });
  }

  private async deleteShell(shellId: string): Promise<void> {
    await this.exchange(actions.delete, { shellId, body: '' });
  }

  /** Sends one SOAP envelope and returns the answer's root; faults become our errors. */
  private async exchange(
    action: string,
    req: { shellId?: string; body: string; options?: Record<string, string>; signal?: AbortSignal | undefined },
  ): Promise<XmlElement> {
    const what = `WinRM ${action.slice(action.lastIndexOf('/') + 1)}`;
    const body = this.envelope(action, req);
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > this.maxEnvelopeBytes)
      throw new InputError(
        `${what}: the request would be ${bytes} bytes, over the listener's MaxEnvelopeSizekb (${this.maxEnvelopeBytes / 1024})`,
      );
    const res = await sendHttp(what, {
      method: 'POST',
      url: this.opts.endpoint,
      headers: {
        authorization: basicAuth(this.opts.username, this.opts.password),
        'content-type': 'application/soap+xml;charset=UTF-8',
      },
      body,
      timeoutMs: this.opts.requestTimeoutMs,
      signal: req.signal,
    });
    if (res.status === 401)
      throw new NotAllowedError(
        `${what}: the WinRM listener at ${this.opts.endpoint} rejected the credentials for ${this.opts.username}`,
      );
    if (res.status === 413)
      throw new InputError(
        `${what}: the WinRM service refused a ${bytes}-byte request as over its MaxEnvelopeSizekb; set maxEnvelopeSizeKb to the server's winrm/config value`,
      );
    let doc: XmlElement | undefined;
    try {
      doc = parseXml(res.text);
    } catch {
      doc = undefined;
    }
    const fault = doc && readFault(doc);
    if (fault) {
      if (fault.wsmanCode === receiveTimeoutFaultCode) throw new ReceiveTimeout();
      const message = `${what}: ${fault.reason || fault.subcode || fault.code}${fault.wsmanCode ? ` (WSManFault ${fault.wsmanCode})` : ''}`;
      // A Sender fault is about our request (bad selector, unknown option), and so is a command line
      // CreateProcess refused: retrying either cannot help.
      throw fault.code.endsWith('Sender') || fault.wsmanCode === commandLineTooLongCode
        ? new InputError(message)
        : new UpstreamError(message);
    }
    if (res.status !== 200 || !doc) throw errorForStatus(what, res.status, res.text);
    return doc;
  }

  private envelope(action: string, req: { shellId?: string; body: string; options?: Record<string, string> }): string {
    const selector = req.shellId
      ? `<w:SelectorSet><w:Selector Name="ShellId">${escapeXml(req.shellId)}</w:Selector></w:SelectorSet>`
      : '';
    const options = req.options
      ? `<w:OptionSet>${Object.entries(req.options)
          .map(([k, v]) => `<w:Option Name="${k}">${escapeXml(v)}</w:Option>`)
          .join('')}</w:OptionSet>`
      : '';
    return [
      `<s:Envelope xmlns:s="${ns.soap}" xmlns:a="${ns.addressing}" xmlns:w="${ns.wsman}">`,
      '<s:Header>',
      `<a:To>${escapeXml(this.opts.endpoint)}</a:To>`,
      `<w:ResourceURI s:mustUnderstand="true">${cmdShellUri}</w:ResourceURI>`,
      '<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>',
      `<a:Action s:mustUnderstand="true">${action}</a:Action>`,
      '<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>',
      `<a:MessageID>uuid:${randomUUID().toUpperCase()}</a:MessageID>`,
      '<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>',
      `<w:OperationTimeout>PT${this.opts.operationTimeoutSec}.000S</w:OperationTimeout>`,
      selector,
      options,
      '</s:Header>',
      `<s:Body>${req.body}</s:Body>`,
      '</s:Envelope>',
    ].join('');
  }
}

class ReceiveTimeout extends Error {}

const powerShellProgram = 'powershell.exe';
const commandOptions = { WINRS_CONSOLEMODE_STDIN: 'TRUE', WINRS_SKIP_CMD_SHELL: 'TRUE' };

function powerShellArgs(script: string): string[] {
  return [
    '-NoLogo',
    '-NoProfile',
    '-NonInteractive',
    '-ExecutionPolicy',
    'Bypass',
    '-EncodedCommand',
    encodePowerShell(script),
  ];
}

function commandBody(command: string, args: readonly string[]): string {
  const argsXml = args.map((a) => `<rsp:Arguments>${escapeXml(windowsArg(a))}</rsp:Arguments>`).join('');
  return `<rsp:CommandLine xmlns:rsp="${ns.shell}"><rsp:Command>${escapeXml(command)}</rsp:Command>${argsXml}</rsp:CommandLine>`;
}

function readFault(doc: XmlElement): Fault | undefined {
  const fault = findElement(doc, ns.soap, 'Fault');
  if (!fault) return undefined;
  const code = findElement(fault, ns.soap, 'Code');
  const subcode = code && findElement(code, ns.soap, 'Subcode');
  const wsmanFault = findElement(fault, ns.fault, 'WSManFault');
  return {
    code: (code && findElement(code, ns.soap, 'Value')?.text.trim()) ?? '',
    subcode: (subcode && findElement(subcode, ns.soap, 'Value')?.text.trim()) ?? '',
    reason: findElement(fault, ns.soap, 'Text')?.text.trim() ?? '',
    wsmanCode: wsmanFault?.attrs['Code'] ?? '',
  };
}

/**
 * A WinRM listener (WS-Management remote shell) on 127.0.0.1, faithful to the messages in
 * [MS-WSMV]: 3.1.4.5 Create (wst:Create → ResourceCreated with the ShellId selector),
 * 3.1.4.11 Command (rsp:CommandLine → rsp:CommandResponse/CommandId), 3.1.4.14 Receive
 * (rsp:Stream base64 chunks, rsp:CommandState …/Done with rsp:ExitCode), 3.1.4.12 Signal,
 * wst:Delete, and the examples in 4.7.1–4.7.5; SOAP 1.2 faults with a wsmanfault:WSManFault
 * code (2150858793 for a Receive that timed out). Basic authentication over HTTP; a wrong
 * password is HTTP 401, as a real listener answers.
 * Limits, as a real listener enforces them: a request larger than MaxEnvelopeSizekb × 1,024
 * bytes (winrm/config default 500) is refused with HTTP 413 and no body, as Windows answers it
 * (the client reports "the request size exceeded the configured MaxEnvelopeSize quota",
 * ERROR_WSMAN_HTTP_REQUEST_TOO_LARGE_STATUS); a command line CreateProcess would refuse (over
 * 32,767 characters with its null) fails the Command with the Win32 error as WinRS reports a
 * process it could not start: s:Receiver / w:InternalError, WSManFault code 206
 * (ERROR_FILENAME_EXCED_RANGE, "The filename or extension is too long.").
 * https://learn.microsoft.com/en-us/windows/win32/winrm/installation-and-configuration-for-windows-remote-management
 * https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw
 * https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/c793e333-c409-43c6-a2eb-6ae2489c7ef4
 * https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/50cc2c38-e094-4d59-aec2-39e09f314862
 * https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/b8d1b0bd-484e-4ac0-a9dd-9244f13697db
 *
 * What runs inside a shell is pluggable: each CommandHandler recognises the programs it
 * emulates (powershell.exe, PDQDeploy.exe, sqlite3.exe …) and anything else gets cmd.exe's
 * "is not recognized" answer.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import {
  actions,
  cmdShellUri,
  commandStateDone,
  ns,
  receiveTimeoutFaultCode,
  signals,
} from '../../integrations/kit/winrm/wsman.ts';
import { defaultMaxEnvelopeSizeKb, maxCommandLineChars } from '../../integrations/kit/winrm/limits.ts';
import { escapeXml, findElement, findElements, parseXml, type XmlElement } from '../../integrations/kit/winrm/xml.ts';
import { HttpEmulator } from './http-emulator.ts';

export interface WinRmCommand {
  /** The program as the client named it, e.g. `powershell.exe` or a full path. */
  command: string;
  /** The arguments as the program would see them (split by CommandLineToArgvW rules). */
  argv: string[];
  /** The whole command line CreateProcess was given. */
  line: string;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Returns undefined when the command is not the program this handler emulates. */
export type CommandHandler = (cmd: WinRmCommand) => CommandOutput | undefined | Promise<CommandOutput | undefined>;

export interface WinRmEmulatorOptions {
  username: string;
  password: string;
  handlers: CommandHandler[];
  /** Output is delivered this many bytes per Receive, so that clients must loop. */
  chunkBytes?: number;
  /** Each command's first N Receives time out (WSManFault 2150858793) before output flows. */
  receiveTimeoutsPerCommand?: number;
  /** winrm/config MaxEnvelopeSizekb; requests larger than this many KiB are refused. */
  maxEnvelopeSizeKb?: number;
}

export interface WinRmExchange {
  action: string;
  shellId?: string | undefined;
  command?: WinRmCommand | undefined;
  signal?: string | undefined;
}

interface RunningCommand {
  id: string;
  pending: Promise<CommandOutput>;
  output?: CommandOutput;
  stdoutSent: number;
  stderrSent: number;
  timeoutsLeft: number;
}

export class WinRmEmulator extends HttpEmulator {
  readonly exchanges: WinRmExchange[] = [];
  /** Requests refused as larger than MaxEnvelopeSizekb, by size in bytes. */
  readonly oversizedRequests: number[] = [];
  private readonly shells = new Map<string, Map<string, RunningCommand>>();
  constructor(private readonly opts: WinRmEmulatorOptions) {
    super('/wsman');
  }

  /** Shells created and not yet deleted: a client that cleans up leaves none. */
  openShellCount(): number {
    return this.shells.size;
  }

  commandsRun(): WinRmCommand[] {
    return this.exchanges.flatMap((e) => (e.command ? [e.command] : []));
  }

  protected async handle(req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse): Promise<void> {
    const expected = `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64')}`;
    if (req.method !== 'POST' || req.url !== '/wsman') {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="WSMAN"', 'content-length': '0' }).end();
      return;
    }
    if (raw.length > (this.opts.maxEnvelopeSizeKb ?? defaultMaxEnvelopeSizeKb) * 1024) {
      this.oversizedRequests.push(raw.length);
      res.writeHead(413, { 'content-length': '0' }).end();
      return;
    }
    let doc: XmlElement;
    try {
      doc = parseXml(raw.toString('utf8'));
    } catch {
      this.reply(
        res,
        400,
        fault(
          's:Sender',
          'w:SchemaValidationError',
          'The SOAP XML in the message does not match the corresponding XML schema definition.',
          '2150858817',
        ),
      );
      return;
    }
    const header = findElement(doc, ns.soap, 'Header');
    const body = findElement(doc, ns.soap, 'Body');
    const action = (header && findElement(header, ns.addressing, 'Action')?.text.trim()) ?? '';
    const resourceUri = (header && findElement(header, ns.wsman, 'ResourceURI')?.text.trim()) ?? '';
    const messageId = (header && findElement(header, ns.addressing, 'MessageID')?.text.trim()) ?? '';
    const shellId =
      header &&
      findElements(header, ns.wsman, 'Selector')
        .find((s) => s.attrs['Name'] === 'ShellId')
        ?.text.trim();
    if (resourceUri !== cmdShellUri || !body) {
      this.reply(
        res,
        400,
        fault(
          's:Sender',
          'w:DestinationUnreachable',
          'The WS-Management service cannot process the request because the resource URI is not supported.',
          '2150858770',
        ),
      );
      return;
    }
    const answer = await this.dispatch(action, shellId, body);
    this.exchanges.push(answer.exchange);
    this.reply(res, answer.status, answer.xml, messageId, answer.responseAction);
  }

  private async dispatch(
    action: string,
    shellId: string | undefined,
    body: XmlElement,
  ): Promise<{ status: number; xml: string; responseAction?: string; exchange: WinRmExchange }> {
    const exchange: WinRmExchange = { action, shellId };
    if (action === actions.create) {
      const id = randomUUID().toUpperCase();
      this.shells.set(id, new Map());
      exchange.shellId = id;
      return {
        status: 200,
        exchange,
        responseAction: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse',
        xml: `<x:ResourceCreated><a:Address>${escapeXml(this.url)}</a:Address><a:ReferenceParameters><w:ResourceURI>${cmdShellUri}</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">${id}</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>${id}</rsp:ShellId><rsp:ResourceUri>${cmdShellUri}</rsp:ResourceUri><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`,
      };
    }
    const commands = shellId ? this.shells.get(shellId) : undefined;
    if (!commands)
      return {
        status: 500,
        exchange,
        xml: fault(
          's:Sender',
          'w:InvalidSelectors',
          'The WS-Management service cannot process the request because the request contained invalid selectors for the resource.',
          '2150858843',
        ),
      };
    if (action === actions.delete) {
      this.shells.delete(shellId!);
      return {
        status: 200,
        exchange,
        xml: '',
        responseAction: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse',
      };
    }
    if (action === actions.command) {
      const line = findElement(body, ns.shell, 'CommandLine');
      const command = (line && findElement(line, ns.shell, 'Command')?.text.trim()) ?? '';
      const joined = (line ? findElements(line, ns.shell, 'Arguments') : []).map((a) => a.text).join(' ');
      const cmd: WinRmCommand = { command, argv: splitWindowsCommandLine(joined), line: `${command} ${joined}` };
      exchange.command = cmd;
      if (cmd.line.length + 1 > maxCommandLineChars)
        return {
          status: 500,
          exchange,
          xml: fault('s:Receiver', 'w:InternalError', 'The filename or extension is too long. ', '206'),
        };
      const id = randomUUID().toUpperCase();
      commands.set(id, {
        id,
        pending: this.execute(cmd),
        stdoutSent: 0,
        stderrSent: 0,
        timeoutsLeft: this.opts.receiveTimeoutsPerCommand ?? 0,
      });
      return {
        status: 200,
        exchange,
        responseAction: `${actions.command}Response`,
        xml: `<rsp:CommandResponse><rsp:CommandId>${id}</rsp:CommandId></rsp:CommandResponse>`,
      };
    }
    if (action === actions.receive) {
      const commandId = findElement(body, ns.shell, 'DesiredStream')?.attrs['CommandId'] ?? '';
      const running = commands.get(commandId);
      if (!running)
        return {
          status: 500,
          exchange,
          xml: fault('s:Sender', 'w:InvalidParameter', 'The request contained an unknown CommandId.', '2150858882'),
        };
      if (running.timeoutsLeft > 0) {
        running.timeoutsLeft--;
        return {
          status: 500,
          exchange,
          xml: fault(
            's:Receiver',
            'w:TimedOut',
            'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.',
            receiveTimeoutFaultCode,
          ),
        };
      }
      running.output ??= await running.pending;
      return { status: 200, exchange, responseAction: `${actions.receive}Response`, xml: this.nextChunk(running) };
    }
    if (action === actions.signal) {
      const signal = findElement(body, ns.shell, 'Signal');
      const commandId = signal?.attrs['CommandId'] ?? '';
      exchange.signal = (signal && findElement(signal, ns.shell, 'Code')?.text.trim()) ?? '';
      if (exchange.signal === signals.terminate || exchange.signal === signals.ctrlC) commands.delete(commandId);
      return { status: 200, exchange, responseAction: `${actions.signal}Response`, xml: '<rsp:SignalResponse/>' };
    }
    return {
      status: 500,
      exchange,
      xml: fault('s:Sender', 'a:ActionNotSupported', 'The action is not supported by the service.', '2150858771'),
    };
  }

  private async execute(cmd: WinRmCommand): Promise<CommandOutput> {
    for (const handler of this.opts.handlers) {
      const out = await handler(cmd);
      if (out) return out;
    }
    return {
      stdout: '',
      stderr: `'${cmd.command}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n`,
      exitCode: 1,
    };
  }

  /** One Receive's worth: the next chunk of each stream, and the final state once both are drained. */
  private nextChunk(running: RunningCommand): string {
    const out = running.output!;
    const size = this.opts.chunkBytes ?? 512;
    const stdout = Buffer.from(out.stdout, 'utf8');
    const stderr = Buffer.from(out.stderr, 'utf8');
    const parts: string[] = [];
    const take = (name: 'stdout' | 'stderr', bytes: Buffer, sent: number) => {
      const slice = bytes.subarray(sent, sent + size);
      if (slice.length)
        parts.push(`<rsp:Stream Name="${name}" CommandId="${running.id}">${slice.toString('base64')}</rsp:Stream>`);
      return sent + slice.length;
    };
    running.stdoutSent = take('stdout', stdout, running.stdoutSent);
    running.stderrSent = take('stderr', stderr, running.stderrSent);
    const drained = running.stdoutSent >= stdout.length && running.stderrSent >= stderr.length;
    if (drained) {
      parts.push(
        `<rsp:Stream Name="stdout" CommandId="${running.id}" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="${running.id}" End="true"></rsp:Stream>`,
      );
      parts.push(
        `<rsp:CommandState CommandId="${running.id}" State="${commandStateDone}"><rsp:ExitCode>${out.exitCode}</rsp:ExitCode></rsp:CommandState>`,
      );
    } else {
      parts.push(
        `<rsp:CommandState CommandId="${running.id}" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"/>`,
      );
    }
    return `<rsp:ReceiveResponse>${parts.join('')}</rsp:ReceiveResponse>`;
  }

  private reply(
    res: http.ServerResponse,
    status: number,
    bodyXml: string,
    relatesTo = '',
    action = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault',
  ): void {
    const xml = [
      `<s:Envelope xml:lang="en-US" xmlns:s="${ns.soap}" xmlns:a="${ns.addressing}" xmlns:x="${ns.transfer}" xmlns:w="${ns.wsman}" xmlns:rsp="${ns.shell}" xmlns:f="${ns.fault}">`,
      `<s:Header><a:Action>${action}</a:Action><a:MessageID>uuid:${randomUUID().toUpperCase()}</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>`,
      relatesTo ? `<a:RelatesTo>${escapeXml(relatesTo)}</a:RelatesTo>` : '',
      `</s:Header><s:Body>${bodyXml}</s:Body></s:Envelope>`,
    ].join('');
    res.writeHead(status, { 'content-type': 'application/soap+xml;charset=UTF-8' }).end(xml);
  }
}

function fault(code: string, subcode: string, reason: string, wsmanCode: string): string {
  return `<s:Fault><s:Code><s:Value>${code}</s:Value><s:Subcode><s:Value>${subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">${escapeXml(reason)}</s:Text></s:Reason><s:Detail><f:WSManFault Code="${wsmanCode}" Machine="127.0.0.1"><f:Message>${escapeXml(reason)}</f:Message></f:WSManFault></s:Detail></s:Fault>`;
}

/**
 * How a Windows program splits its command line (CommandLineToArgvW / the MSVC runtime):
 * whitespace separates arguments outside quotes; 2n backslashes before a quote give n
 * backslashes and toggle quoting, 2n+1 give n backslashes and a literal quote; `""` inside
 * quotes is a literal quote; other backslashes are literal.
 * https://learn.microsoft.com/en-us/cpp/c-language/parsing-c-command-line-arguments
 */
export function splitWindowsCommandLine(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let inArg = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '\\') {
      let n = 0;
      while (line[i + n] === '\\') n++;
      if (line[i + n] === '"') {
        current += '\\'.repeat(Math.floor(n / 2));
        if (n % 2 === 1) {
          current += '"';
          i += n;
        } else {
          i += n - 1;
        }
      } else {
        current += '\\'.repeat(n);
        i += n - 1;
      }
      inArg = true;
    } else if (ch === '"') {
      if (quoted && line[i + 1] === '"') {
        current += '"';
        i++;
      } else {
        quoted = !quoted;
      }
      inArg = true;
    } else if (/\s/.test(ch) && !quoted) {
      if (inArg) args.push(current);
      current = '';
      inArg = false;
    } else {
      current += ch;
      inArg = true;
    }
  }
  if (inArg) args.push(current);
  return args;
}

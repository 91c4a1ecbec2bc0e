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
 * (ERROR_FILENAME_EXCED_RANGE, "The filename or extension is too long."). Without
 * WINRS_SKIP_CMD_SHELL the line runs under `cmd.exe /c` (3.1.4.11), whose own limit is 8,191
 * characters: cmd.exe prints "The command line is too long." and exits 1. A Receive waits at
 * most the request's OperationTimeout (3.1.4.14). A body other than application/soap+xml in
 * UTF-8 or UTF-16 (2.1) is HTTP 415.
 * https://learn.microsoft.com/en-us/troubleshoot/windows-client/shell-experience/command-line-string-limitation
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
import { setTimeout as delay } from 'node:timers/promises';
import { SaxesParser } from 'saxes';
import { HttpEmulator } from './http-emulator.ts';

// The emulator's own names, limits and parser, written from the documents and not imported from
// integrations/kit/winrm: an oracle that shared the client's URIs or XML reader could not catch
// a wrong one. test/contract/winrm-pywinrm.test.ts drives it with pywinrm, a client we did not write.

/** [MS-WSMV] 2.2.1 namespaces, and DSP0226 for SOAP 1.2, WS-Addressing and WS-Transfer. */
const uri = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  addressing: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsman: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  transfer: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  shell: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  fault: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
} as const;
const cmdShell = `${uri.shell}/cmd`;
const anonymous = `${uri.addressing}/role/anonymous`;
/** [MS-WSMV] 3.1.4.5 Create, 3.1.4.11 Command, 3.1.4.12 Signal, 3.1.4.14 Receive; WS-Transfer Delete. */
const action = {
  create: `${uri.transfer}/Create`,
  delete: `${uri.transfer}/Delete`,
  command: `${uri.shell}/Command`,
  receive: `${uri.shell}/Receive`,
  signal: `${uri.shell}/Signal`,
  fault: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault',
} as const;
/** [MS-WSMV] 2.2.4.38 Signal codes. */
const signalCode = { terminate: `${uri.shell}/signal/terminate`, ctrlC: `${uri.shell}/signal/ctrl_c` } as const;
/** [MS-WSMV] 2.2.4.7 CommandStateType. */
const commandState = { done: `${uri.shell}/CommandState/Done`, running: `${uri.shell}/CommandState/Running` } as const;
/** ERROR_WSMAN_OPERATION_TIMEDOUT: [MS-WSMV] 3.1.4.14, a Receive with no output within OperationTimeout. */
const operationTimedOutCode = '2150858793';
/** CreateProcess: at most 32,767 characters with the terminating null. */
const createProcessMaxChars = 32_767;
/** cmd.exe: at most 8,191 characters on its command line (KB 830473). */
const cmdExeMaxChars = 8_191;
/** winrm/config MaxEnvelopeSizekb when nobody changed it. */
const defaultEnvelopeKb = 500;

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
    // [MS-WSMV] 2.1: messages are SOAP 1.2, application/soap+xml, in UTF-8 or UTF-16; the
    // service answers anything else with HTTP 415.
    const contentType = /^application\/soap\+xml\s*(;|$)/i.exec(req.headers['content-type'] ?? '');
    const charset = /charset\s*=\s*"?([\w-]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase() ?? 'utf-8';
    if (!contentType || !['utf-8', 'utf-16', 'utf-16le'].includes(charset)) {
      res.writeHead(415, { 'content-length': '0' }).end();
      return;
    }
    if (raw.length > (this.opts.maxEnvelopeSizeKb ?? defaultEnvelopeKb) * 1024) {
      this.oversizedRequests.push(raw.length);
      res.writeHead(413, { 'content-length': '0' }).end();
      return;
    }
    let envelope: XmlNode;
    try {
      envelope = parseEnvelope(raw.toString(charset === 'utf-8' ? 'utf8' : 'utf16le').replace(/^\uFEFF/, ''));
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
    // SOAP 1.2: the Envelope's children are an optional Header, then the Body; WS-Addressing and
    // WS-Management headers are the Header's children.
    const header = child(envelope, uri.soap, 'Header');
    const body = child(envelope, uri.soap, 'Body');
    const headerText = (ns: string, local: string) => (header && child(header, ns, local)?.text.trim()) ?? '';
    const requested = headerText(uri.addressing, 'Action');
    const messageId = headerText(uri.addressing, 'MessageID');
    const selectorSet = header && child(header, uri.wsman, 'SelectorSet');
    const shellId = selectorSet && named(children(selectorSet, uri.wsman, 'Selector'), 'ShellId')?.text.trim();
    const optionSet = header && child(header, uri.wsman, 'OptionSet');
    const options = new Map(
      (optionSet ? children(optionSet, uri.wsman, 'Option') : []).map((o) => [
        o.attrs.get('Name') ?? '',
        o.text.trim(),
      ]),
    );
    if (
      envelope.uri !== uri.soap ||
      envelope.local !== 'Envelope' ||
      headerText(uri.wsman, 'ResourceURI') !== cmdShell ||
      !body
    ) {
      this.reply(
        res,
        400,
        fault(
          's:Sender',
          'w:DestinationUnreachable',
          'The WS-Management service cannot process the request because the resource URI is not supported.',
          '2150858770',
        ),
        messageId,
      );
      return;
    }
    const answer = await this.dispatch({
      action: requested,
      shellId,
      options,
      operationTimeoutMs: durationMs(headerText(uri.wsman, 'OperationTimeout')),
      body,
    });
    this.exchanges.push(answer.exchange);
    this.reply(res, answer.status, answer.xml, messageId, answer.responseAction);
  }

  private async dispatch(req: {
    action: string;
    shellId: string | undefined;
    options: Map<string, string>;
    operationTimeoutMs: number | undefined;
    body: XmlNode;
  }): Promise<{ status: number; xml: string; responseAction?: string; exchange: WinRmExchange }> {
    const { body } = req;
    const exchange: WinRmExchange = { action: req.action, shellId: req.shellId };
    if (req.action === action.create) {
      // [MS-WSMV] 3.1.4.5.2: the CreateResponse is a wst:ResourceCreated EPR whose ShellId selector
      // addresses the shell in every later message, followed by the rsp:Shell as created.
      const id = randomUUID().toUpperCase();
      this.shells.set(id, new Map());
      exchange.shellId = id;
      return {
        status: 200,
        exchange,
        responseAction: `${action.create}Response`,
        xml: `<x:ResourceCreated><a:Address>${escape(this.url)}</a:Address><a:ReferenceParameters><w:ResourceURI>${cmdShell}</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">${id}</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>${id}</rsp:ShellId><rsp:ResourceUri>${cmdShell}</rsp:ResourceUri><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`,
      };
    }
    const commands = req.shellId ? this.shells.get(req.shellId) : undefined;
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
    if (req.action === action.delete) {
      this.shells.delete(req.shellId!);
      return { status: 200, exchange, xml: '', responseAction: `${action.delete}Response` };
    }
    if (req.action === action.command) {
      const commandLine = child(body, uri.shell, 'CommandLine');
      const command = (commandLine && child(commandLine, uri.shell, 'Command')?.text.trim()) ?? '';
      const args = (commandLine ? children(commandLine, uri.shell, 'Arguments') : []).map((a) => a.text);
      const { cmd, viaCmdExe } = commandOf(
        command,
        args,
        req.options.get('WINRS_SKIP_CMD_SHELL')?.toUpperCase() === 'TRUE',
      );
      exchange.command = cmd;
      // Measured on the line as sent: the few characters of the `cmd.exe /c` WinRS puts before it
      // when not skipping cmd.exe are not modelled.
      if (cmd.line.length + 1 > createProcessMaxChars)
        return {
          status: 500,
          exchange,
          xml: fault('s:Receiver', 'w:InternalError', 'The filename or extension is too long. ', '206'),
        };
      const id = randomUUID().toUpperCase();
      commands.set(id, {
        id,
        pending:
          viaCmdExe && cmd.line.length > cmdExeMaxChars
            ? Promise.resolve({ stdout: '', stderr: 'The command line is too long.\r\n', exitCode: 1 })
            : this.execute(cmd),
        stdoutSent: 0,
        stderrSent: 0,
        timeoutsLeft: this.opts.receiveTimeoutsPerCommand ?? 0,
      });
      return {
        status: 200,
        exchange,
        responseAction: `${action.command}Response`,
        xml: `<rsp:CommandResponse><rsp:CommandId>${id}</rsp:CommandId></rsp:CommandResponse>`,
      };
    }
    if (req.action === action.receive) {
      const receive = child(body, uri.shell, 'Receive');
      const commandId = (receive && child(receive, uri.shell, 'DesiredStream')?.attrs.get('CommandId')) ?? '';
      const running = commands.get(commandId);
      if (!running)
        return {
          status: 500,
          exchange,
          xml: fault('s:Sender', 'w:InvalidParameter', 'The request contained an unknown CommandId.', '2150858882'),
        };
      const timedOut = {
        status: 500,
        exchange,
        xml: fault(
          's:Receiver',
          'w:TimedOut',
          'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.',
          operationTimedOutCode,
        ),
      };
      if (running.timeoutsLeft > 0) {
        running.timeoutsLeft--;
        return timedOut;
      }
      // [MS-WSMV] 3.1.4.14: a Receive waits for output at most the request's OperationTimeout, then
      // faults with 2150858793 and the client asks again; the command keeps running meanwhile.
      running.output ??= await withDeadline(running.pending, req.operationTimeoutMs);
      if (!running.output) return timedOut;
      return { status: 200, exchange, responseAction: `${action.receive}Response`, xml: this.nextChunk(running) };
    }
    if (req.action === action.signal) {
      const signal = child(body, uri.shell, 'Signal');
      const commandId = signal?.attrs.get('CommandId') ?? '';
      exchange.signal = (signal && child(signal, uri.shell, 'Code')?.text.trim()) ?? '';
      if (exchange.signal === signalCode.terminate || exchange.signal === signalCode.ctrlC) commands.delete(commandId);
      return { status: 200, exchange, responseAction: `${action.signal}Response`, xml: '<rsp:SignalResponse/>' };
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
        `<rsp:CommandState CommandId="${running.id}" State="${commandState.done}"><rsp:ExitCode>${out.exitCode}</rsp:ExitCode></rsp:CommandState>`,
      );
    } else {
      parts.push(`<rsp:CommandState CommandId="${running.id}" State="${commandState.running}"/>`);
    }
    return `<rsp:ReceiveResponse>${parts.join('')}</rsp:ReceiveResponse>`;
  }

  private reply(
    res: http.ServerResponse,
    status: number,
    bodyXml: string,
    relatesTo = '',
    responseAction: string = action.fault,
  ): void {
    const xml = [
      `<s:Envelope xml:lang="en-US" xmlns:s="${uri.soap}" xmlns:a="${uri.addressing}" xmlns:x="${uri.transfer}" xmlns:w="${uri.wsman}" xmlns:rsp="${uri.shell}" xmlns:f="${uri.fault}">`,
      `<s:Header><a:Action>${responseAction}</a:Action><a:MessageID>uuid:${randomUUID().toUpperCase()}</a:MessageID><a:To>${anonymous}</a:To>`,
      relatesTo ? `<a:RelatesTo>${escape(relatesTo)}</a:RelatesTo>` : '',
      `</s:Header><s:Body>${bodyXml}</s:Body></s:Envelope>`,
    ].join('');
    res.writeHead(status, { 'content-type': 'application/soap+xml;charset=UTF-8' }).end(xml);
  }
}

/**
 * The process WinRS starts for rsp:CommandLine ([MS-WSMV] 3.1.4.11): with WINRS_SKIP_CMD_SHELL
 * TRUE it starts Command itself with the Arguments; otherwise (the default) it hands the whole
 * line to `cmd.exe /c`, so the program is the line's first token, and cmd.exe's own 8,191-character
 * limit applies on top of CreateProcess's.
 */
function commandOf(command: string, args: string[], skipCmdShell: boolean): { cmd: WinRmCommand; viaCmdExe: boolean } {
  const line = [command, ...args].join(' ');
  if (skipCmdShell) return { cmd: { command, argv: splitWindowsCommandLine(args.join(' ')), line }, viaCmdExe: false };
  const [program = '', ...argv] = splitWindowsCommandLine(line);
  return { cmd: { command: program, argv, line }, viaCmdExe: true };
}

/** xs:duration as WS-Management writes OperationTimeout (PT60S, PT60.000S, PT1M30S). */
function durationMs(text: string): number | undefined {
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(text);
  if (!m || text === 'PT') return undefined;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/** The promise's value, or undefined once `ms` passed without it. */
async function withDeadline<T>(pending: Promise<T>, ms: number | undefined): Promise<T | undefined> {
  if (ms === undefined) return pending;
  const stop = new AbortController();
  const deadline = delay(ms, undefined, { signal: stop.signal }).catch(() => undefined);
  try {
    return await Promise.race([pending, deadline]);
  } finally {
    stop.abort();
  }
}

function fault(code: string, subcode: string, reason: string, wsmanCode: string): string {
  return `<s:Fault><s:Code><s:Value>${code}</s:Value><s:Subcode><s:Value>${subcode}</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">${escape(reason)}</s:Text></s:Reason><s:Detail><f:WSManFault Code="${wsmanCode}" Machine="127.0.0.1"><f:Message>${escape(reason)}</f:Message></f:WSManFault></s:Detail></s:Fault>`;
}

function escape(text: string): string {
  return text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An element of a request, its name namespace-resolved; attributes by local name (WS-Man's are unqualified). */
interface XmlNode {
  uri: string;
  local: string;
  attrs: Map<string, string>;
  elements: XmlNode[];
  text: string;
}

function parseEnvelope(xml: string): XmlNode {
  const parser = new SaxesParser({ xmlns: true });
  const open: XmlNode[] = [];
  let root: XmlNode | undefined;
  parser.on('opentag', (tag) => {
    const node: XmlNode = {
      uri: tag.uri,
      local: tag.local,
      attrs: new Map(
        Object.values(tag.attributes)
          .filter((a) => a.uri === '')
          .map((a) => [a.local, a.value]),
      ),
      elements: [],
      text: '',
    };
    if (open.length) open[open.length - 1]!.elements.push(node);
    else root = node;
    open.push(node);
  });
  const onText = (t: string) => {
    if (open.length) open[open.length - 1]!.text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => open.pop());
  parser.write(xml).close();
  if (!root) throw new Error('no document element');
  return root;
}

function children(node: XmlNode, ns: string, local: string): XmlNode[] {
  return node.elements.filter((e) => e.uri === ns && e.local === local);
}

function child(node: XmlNode, ns: string, local: string): XmlNode | undefined {
  return children(node, ns, local)[0];
}

function named(nodes: XmlNode[], name: string): XmlNode | undefined {
  return nodes.find((n) => n.attrs.get('Name') === name);
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

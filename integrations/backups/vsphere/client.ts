import { readCaFile } from '../../kit/support/tls.ts';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { durationMs } from '../../../kernel/duration.ts';
import { NotAllowedError, NotFoundError, UpstreamError } from '../../../kernel/errors.ts';
import { child, children, childText, parseXml, type XmlElement } from '../../feeds/parse.ts';
import type { VsphereConfig } from './config.ts';

/**
 * A small client of the vSphere Web Services API (SOAP 1.1 over HTTPS at /sdk), for the dozen
 * methods snapshots need. The envelopes follow VMware's reference,
 * https://developer.broadcom.com/xapis/vsphere-web-services-api/latest/ (ServiceInstance,
 * SessionManager, SearchIndex, ViewManager, PropertyCollector, VirtualMachine,
 * VirtualMachineSnapshot): every call is `<Method xmlns="urn:vim25"><_this type="…">moref</_this>…`,
 * parameters in the order the WSDL's sequence gives them. No npm package is used: the Node
 * vSphere SOAP modules there are alpha releases last touched years ago that fetch the WSDL at run time.
 */

/** A managed object reference: `{ type: 'VirtualMachine', value: 'vm-42' }`. */
export interface MoRef {
  type: string;
  value: string;
}

export interface SnapshotNode {
  snapshot: MoRef;
  name: string;
  description: string;
  createTime: string;
  /** The VM's power state when the snapshot was taken. */
  state: string;
  children: SnapshotNode[];
}

export interface SnapshotInfo {
  current: MoRef | undefined;
  roots: SnapshotNode[];
}

/** A SOAP fault: `type` is the vSphere fault's name (InvalidLogin, NotAuthenticated, ManagedObjectNotFound, …). */
export class VsphereFault extends Error {
  constructor(
    readonly method: string,
    readonly type: string,
    message: string,
  ) {
    super(`vSphere ${method}: ${message} (${type})`);
    this.name = 'VsphereFault';
  }
}

interface ServiceContent {
  sessionManager: MoRef;
  propertyCollector: MoRef;
  searchIndex: MoRef;
  viewManager: MoRef;
  rootFolder: MoRef;
  apiVersion: string;
  fullName: string;
}

/** Faults that mean the account may not do this: the login was refused, the session is gone, or a privilege is missing. */
const refusals = new Set(['InvalidLogin', 'NotAuthenticated', 'NoPermission', 'InvalidPrivilege']);

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function moRefXml(tag: string, ref: MoRef): string {
  return `<${tag} type="${escapeXml(ref.type)}">${escapeXml(ref.value)}</${tag}>`;
}

function textXml(tag: string, value: string | boolean): string {
  return `<${tag}>${escapeXml(String(value))}</${tag}>`;
}

function moRefOf(el: XmlElement | undefined): MoRef | undefined {
  const value = el?.text.trim();
  const type = el?.attrs['type'];
  return el && value && type ? { type, value } : undefined;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new UpstreamError(`vSphere answered without ${what}`, { retryable: false });
  return value;
}

function snapshotNodes(list: XmlElement[]): SnapshotNode[] {
  return list.map((n) => ({
    snapshot: required(moRefOf(child(n, 'snapshot')), 'a snapshot reference'),
    name: childText(n, 'name') ?? '',
    description: childText(n, 'description') ?? '',
    createTime: childText(n, 'createTime') ?? '',
    state: childText(n, 'state') ?? '',
    children: snapshotNodes(children(n, 'childSnapshotList')),
  }));
}

export class VsphereClient {
  private readonly endpoint: URL;
  private readonly agent: https.Agent;
  private readonly timeoutMs: number;
  private cookie: string | undefined;
  private content: ServiceContent | undefined;

  constructor(private readonly config: VsphereConfig) {
    this.endpoint = new URL(config.url);
    this.timeoutMs = durationMs(config.requestTimeout);
    const ca = readCaFile(config.caFile, 'vsphere', 'vSphere');
    this.agent = new https.Agent({
      keepAlive: true,
      rejectUnauthorized: !config.insecure,
      // `ca` replaces the system roots; a vCenter with a public certificate keeps working with the VMCA root added.
      ...(ca ? { ca: [...rootCertificates, ca] } : {}),
    });
  }

  /** RetrieveServiceContent, then SessionManager.Login; the session cookie rides on every later call. */
  async login(signal?: AbortSignal): Promise<ServiceContent> {
    const body = await this.call(
      'RetrieveServiceContent',
      moRefXml('_this', { type: 'ServiceInstance', value: 'ServiceInstance' }),
      signal,
    );
    const rv = required(child(body, 'returnval'), 'a ServiceContent');
    const ref = (name: string) => required(moRefOf(child(rv, name)), `ServiceContent.${name}`);
    const about = child(rv, 'about');
    const content: ServiceContent = {
      sessionManager: ref('sessionManager'),
      propertyCollector: ref('propertyCollector'),
      searchIndex: ref('searchIndex'),
      viewManager: ref('viewManager'),
      rootFolder: ref('rootFolder'),
      apiVersion: childText(about, 'apiVersion') ?? '6.5',
      fullName: childText(about, 'fullName') ?? 'vSphere',
    };
    this.content = content;
    try {
      await this.call(
        'Login',
        moRefXml('_this', content.sessionManager) +
          textXml('userName', this.config.username) +
          textXml('password', this.config.password),
        signal,
      );
    } catch (err) {
      throw this.refusalOr(err);
    }
    return content;
  }

  /** Ends the session, so that vCenter's session limit is not used up by connectors that come and go. */
  async logout(): Promise<void> {
    if (!this.content || !this.cookie) return;
    try {
      await this.call('Logout', moRefXml('_this', this.content.sessionManager));
    } finally {
      this.cookie = undefined;
      this.agent.destroy();
    }
  }

  /** SearchIndex.FindByDnsName with vmSearch: the guest host name VMware Tools reports. */
  async findVmByDnsName(dnsName: string, signal?: AbortSignal): Promise<MoRef | undefined> {
    const body = await this.invoke(
      'FindByDnsName',
      moRefXml('_this', this.service.searchIndex) + textXml('dnsName', dnsName) + textXml('vmSearch', true),
      signal,
    );
    return moRefOf(child(body, 'returnval'));
  }

  /** SearchIndex.FindByIp with vmSearch: an IP address of the guest as VMware Tools reports it. */
  async findVmByIp(ip: string, signal?: AbortSignal): Promise<MoRef | undefined> {
    const body = await this.invoke(
      'FindByIp',
      moRefXml('_this', this.service.searchIndex) + textXml('ip', ip) + textXml('vmSearch', true),
      signal,
    );
    return moRefOf(child(body, 'returnval'));
  }

  /**
   * VMs by inventory name: a ContainerView over the root folder, and the PropertyCollector reading
   * every VM's `name` through it (the SearchIndex has no lookup by name outside one folder).
   */
  async findVmsByName(names: string[], signal?: AbortSignal): Promise<Map<string, MoRef>> {
    const view = required(
      moRefOf(
        child(
          await this.invoke(
            'CreateContainerView',
            moRefXml('_this', this.service.viewManager) +
              moRefXml('container', this.service.rootFolder) +
              textXml('type', 'VirtualMachine') +
              textXml('recursive', true),
            signal,
          ),
          'returnval',
        ),
      ),
      'a ContainerView',
    );
    try {
      const wanted = new Set(names);
      const found = new Map<string, MoRef>();
      const spec =
        '<specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet></propSet>' +
        `<objectSet>${moRefXml('obj', view)}<skip>true</skip>` +
        '<selectSet xsi:type="TraversalSpec"><type>ContainerView</type><path>view</path><skip>false</skip></selectSet>' +
        '</objectSet></specSet>';
      for (const obj of await this.retrieveAll(spec, signal)) {
        const name = childText(child(obj, 'propSet'), 'val');
        const ref = moRefOf(child(obj, 'obj'));
        if (name && ref && wanted.has(name) && !found.has(name)) found.set(name, ref);
      }
      return found;
    } finally {
      await this.invoke('DestroyView', moRefXml('_this', view)).catch(() => undefined);
    }
  }

  /** One object's properties by path, e.g. `name` and `snapshot` of a VM; a missing object is a NotFoundError. */
  async properties(obj: MoRef, paths: string[], signal?: AbortSignal): Promise<Map<string, XmlElement>> {
    const spec =
      `<specSet><propSet><type>${escapeXml(obj.type)}</type>${paths.map((p) => textXml('pathSet', p)).join('')}</propSet>` +
      `<objectSet>${moRefXml('obj', obj)}<skip>false</skip></objectSet></specSet>`;
    let objects: XmlElement[];
    try {
      objects = await this.retrieveAll(spec, signal);
    } catch (err) {
      if (err instanceof VsphereFault && err.type === 'ManagedObjectNotFound')
        throw new NotFoundError(`vSphere has no ${obj.type} ${obj.value} (it was removed)`);
      throw err;
    }
    const first = objects[0];
    if (!first) throw new NotFoundError(`vSphere has no ${obj.type} ${obj.value} (it was removed)`);
    const out = new Map<string, XmlElement>();
    for (const p of children(first, 'propSet')) {
      const name = childText(p, 'name');
      const val = child(p, 'val');
      if (name && val) out.set(name, val);
    }
    return out;
  }

  /** The VM's snapshot tree (VirtualMachine.snapshot); empty when it has none. */
  async snapshots(vm: MoRef, signal?: AbortSignal): Promise<SnapshotInfo> {
    const val = (await this.properties(vm, ['snapshot'], signal)).get('snapshot');
    return {
      current: moRefOf(val && child(val, 'currentSnapshot')),
      roots: snapshotNodes(children(val, 'rootSnapshotList')),
    };
  }

  /** VirtualMachine.CreateSnapshot_Task; resolves to the new VirtualMachineSnapshot once the task succeeded. */
  async createSnapshot(
    vm: MoRef,
    spec: { name: string; description: string; memory: boolean; quiesce: boolean },
    opts: TaskOptions,
  ): Promise<MoRef> {
    const task = await this.startTask(
      'CreateSnapshot_Task',
      moRefXml('_this', vm) +
        textXml('name', spec.name) +
        textXml('description', spec.description) +
        textXml('memory', spec.memory) +
        textXml('quiesce', spec.quiesce),
      opts.signal,
    );
    return required(moRefOf(await this.waitForTask('CreateSnapshot_Task', task, opts)), 'the new snapshot');
  }

  /** VirtualMachineSnapshot.RevertToSnapshot_Task: the VM goes back to the snapshot's disks (and memory, if it has it). */
  async revertToSnapshot(snapshot: MoRef, opts: TaskOptions): Promise<void> {
    const task = await this.startTask('RevertToSnapshot_Task', moRefXml('_this', snapshot), opts.signal);
    await this.waitForTask('RevertToSnapshot_Task', task, opts);
  }

  /** VirtualMachineSnapshot.RemoveSnapshot_Task, keeping later snapshots and consolidating the disks. */
  async removeSnapshot(snapshot: MoRef, opts: TaskOptions): Promise<void> {
    const task = await this.startTask(
      'RemoveSnapshot_Task',
      moRefXml('_this', snapshot) + textXml('removeChildren', false) + textXml('consolidate', true),
      opts.signal,
    );
    await this.waitForTask('RemoveSnapshot_Task', task, opts);
  }

  private get service(): ServiceContent {
    if (!this.content) throw new Error('VsphereClient used before login()');
    return this.content;
  }

  private async startTask(method: string, params: string, signal?: AbortSignal): Promise<MoRef> {
    return required(moRefOf(child(await this.invoke(method, params, signal), 'returnval')), `the task of ${method}`);
  }

  /**
   * Polls Task.info through the PropertyCollector until the task succeeded (its result) or failed
   * (an UpstreamError with the task's localized message, not retryable: vSphere already tried).
   */
  private async waitForTask(method: string, task: MoRef, opts: TaskOptions): Promise<XmlElement | undefined> {
    const deadline = Date.now() + durationMs(this.config.taskTimeout);
    const interval = durationMs(this.config.pollInterval);
    for (;;) {
      const info = required((await this.properties(task, ['info'], opts.signal)).get('info'), `${task.value}.info`);
      const state = childText(info, 'state');
      if (state === 'success') return child(info, 'result');
      if (state === 'error') {
        const error = child(info, 'error');
        const fault = child(error ?? info, 'fault')?.attrs['type'] ?? 'fault';
        const message = childText(error, 'localizedMessage') ?? fault;
        if (refusals.has(fault)) throw this.refusal(message);
        throw new UpstreamError(`vSphere ${method} failed: ${message} (${fault}, task ${task.value})`, {
          retryable: false,
        });
      }
      const progress = childText(info, 'progress');
      opts.onProgress?.(`${method} ${task.value} ${state ?? 'queued'}${progress ? ` ${progress}%` : ''}`);
      if (Date.now() + interval > deadline)
        throw new UpstreamError(
          `vSphere ${method} (task ${task.value}) still ${state ?? 'queued'} after ${this.config.taskTimeout}; see the task in vCenter`,
          { retryable: false },
        );
      await sleep(interval, undefined, { signal: opts.signal });
    }
  }

  /** RetrievePropertiesEx, then ContinueRetrievePropertiesEx while vSphere hands back a token. */
  private async retrieveAll(specSet: string, signal?: AbortSignal): Promise<XmlElement[]> {
    const pc = this.service.propertyCollector;
    const objects: XmlElement[] = [];
    let rv = child(
      await this.invoke('RetrievePropertiesEx', moRefXml('_this', pc) + specSet + '<options></options>', signal),
      'returnval',
    );
    for (;;) {
      objects.push(...children(rv, 'objects'));
      const token = childText(rv, 'token');
      if (!token) return objects;
      rv = child(
        await this.invoke('ContinueRetrievePropertiesEx', moRefXml('_this', pc) + textXml('token', token), signal),
        'returnval',
      );
    }
  }

  /** A call within the session: a refusal names the account, so that a person knows whose privileges to fix. */
  private async invoke(method: string, params: string, signal?: AbortSignal): Promise<XmlElement> {
    try {
      return await this.call(method, params, signal);
    } catch (err) {
      throw this.refusalOr(err);
    }
  }

  private refusalOr(err: unknown): unknown {
    return err instanceof VsphereFault && refusals.has(err.type) ? this.refusal(err.message) : err;
  }

  private refusal(message: string): NotAllowedError {
    return new NotAllowedError(
      `vSphere refused user ${this.config.username} at ${this.endpoint.host}: ${message}; check the user's password and its snapshot privileges`,
    );
  }

  /** One SOAP exchange; the answer's Body element, or a VsphereFault for a SOAP fault. */
  private async call(method: string, params: string, signal?: AbortSignal): Promise<XmlElement> {
    const envelope =
      '<?xml version="1.0" encoding="UTF-8"?>' +
      '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
      `<soapenv:Body><${method} xmlns="urn:vim25">${params}</${method}></soapenv:Body></soapenv:Envelope>`;
    const { status, text } = await this.post(method, envelope, signal);
    let doc: XmlElement;
    try {
      doc = parseXml(text, `vSphere ${method} answer`);
    } catch (err) {
      throw new UpstreamError(`vSphere ${method}: HTTP ${status}, not a SOAP answer (${text.slice(0, 200)})`, {
        retryable: status >= 500,
        cause: err,
      });
    }
    const body = child(doc, 'Body');
    const fault = body && child(body, 'Fault');
    if (fault) {
      const detail = child(fault, 'detail')?.children[0];
      const type = detail?.attrs['type'] ?? detail?.name.replace(/Fault$/, '') ?? 'SOAP fault';
      throw new VsphereFault(method, type, childText(fault, 'faultstring') ?? type);
    }
    const answer = body?.children[0];
    if (!answer) throw new UpstreamError(`vSphere ${method}: HTTP ${status}, an empty SOAP body`);
    return answer;
  }

  private post(method: string, envelope: string, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const what = `vSphere ${method} at ${this.endpoint.origin}`;
    return new Promise((resolve, reject) => {
      const req = https.request(
        this.endpoint,
        {
          method: 'POST',
          agent: this.agent,
          timeout: this.timeoutMs,
          signal,
          headers: {
            'content-type': 'text/xml; charset=utf-8',
            // The API release the server itself reports, as VMware's own clients send it.
            soapaction: `"urn:vim25/${this.content?.apiVersion ?? '6.5'}"`,
            ...(this.cookie ? { cookie: this.cookie } : {}),
          },
        },
        (res) => {
          const session = res.headers['set-cookie']?.find((c) => c.startsWith('vmware_soap_session='));
          if (session) this.cookie = session.split(';')[0];
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new UpstreamError(`${what}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => {
        if (signal?.aborted) reject(signal.reason);
        else if (err instanceof UpstreamError) reject(err);
        else if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test((err as NodeJS.ErrnoException).code ?? ''))
          // Retrying cannot make an untrusted certificate trusted; the fix is configuration.
          reject(
            new UpstreamError(
              `${what}: the server's TLS certificate is not trusted (${err.message}); set caFile to the PEM of the CA that signed it`,
              { retryable: false, cause: err },
            ),
          );
        else reject(new UpstreamError(`${what}: ${err.message}`, { cause: err }));
      });
      req.end(envelope);
    });
  }
}

export interface TaskOptions {
  onProgress?: ((note: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

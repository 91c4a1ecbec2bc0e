import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { cachedGoTool, which } from '../../runtime/temporal-cli.ts';

/**
 * vcsim, VMware's vSphere API simulator from govmomi: the real SOAP server code that govc and
 * Terraform's vSphere provider are tested against. v0.46.3 is the last tag `go install` can build:
 * from v0.47.0 on, vcsim is a sub-module with a `replace` directive (govmomi's CHANGELOG, v0.47.0).
 */
export const VCSIM_MODULE = 'github.com/vmware/govmomi/vcsim@v0.46.3';

/** Finds vcsim on PATH or in Patchflow's cache of built tools; with `build`, builds it there once (half a minute). */
export function resolveVcsim(opts: { build: boolean; log?: (line: string) => void }): string {
  return (
    which('vcsim') ?? cachedGoTool({ binary: 'vcsim', module: VCSIM_MODULE, what: 'vcsim (vSphere tests)', ...opts })
  );
}

export interface Vcsim {
  /** The SDK endpoint without credentials, e.g. `https://127.0.0.1:40123/sdk`. */
  url: string;
  /** The PEM of the certificate vcsim serves (a throwaway CA of its own for 127.0.0.1). */
  caFile: string;
  username: string;
  password: string;
  /** One SOAP call as an administrator would make it with govc: for the tests' own changes to the inventory. */
  soap(method: string, params: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts vcsim on an ephemeral port with a certificate made for this run, and reads the endpoint
 * from the `export GOVC_URL=…` line it prints once it listens. Its default model: one datacenter
 * DC0 with a cluster and a standalone host, VMs named DC0_H0_VM0, DC0_C0_RP0_VM0, ….
 */
export async function startVcsim(opts: { username?: string; password?: string } = {}): Promise<Vcsim> {
  const bin = resolveVcsim({ build: true, log: (l) => console.error(`vcsim: ${l}`) });
  // vcsim 0.46 refuses a user name with a domain part (user@vsphere.local), so the tests use a plain one.
  const username = opts.username ?? 'patchflow';
  const password = opts.password ?? 'vcsim-secret';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vcsim-'));
  const caFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', caFile,
  ], { stdio: 'ignore' }); // prettier-ignore
  const child: ChildProcess = spawn(
    bin,
    ['-l', '127.0.0.1:0', '-username', username, '-password', password, '-tlscert', caFile, '-tlskey', keyFile],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vcsim printed no GOVC_URL within 30 s: ${stderr}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`vcsim exited (${code}) before listening: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /GOVC_URL=(\S+)/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      const u = new URL(m[1] as string);
      u.username = '';
      u.password = '';
      resolve(u.toString());
    });
  });
  const agent = new https.Agent({ ca: [readFileSync(caFile, 'utf8')] });
  let cookie: string | undefined;
  const post = (method: string, params: string) =>
    new Promise<string>((resolve, reject) => {
      const req = https.request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'text/xml', soapaction: '"urn:vim25/6.5"', ...(cookie ? { cookie } : {}) },
        },
        (res) => {
          const c = res.headers['set-cookie']?.[0];
          if (c) cookie = c.split(';')[0];
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () =>
            res.statusCode === 200 ? resolve(text) : reject(new Error(`vcsim ${method}: ${res.statusCode} ${text}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
          `<soapenv:Body><${method} xmlns="urn:vim25">${params}</${method}></soapenv:Body></soapenv:Envelope>`,
      );
    });
  return {
    url,
    caFile,
    username,
    password,
    async soap(method, params) {
      if (!cookie)
        await post(
          'Login',
          `<_this type="SessionManager">SessionManager</_this><userName>${username}</userName><password>${password}</password>`,
        );
      return post(method, params);
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      agent.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

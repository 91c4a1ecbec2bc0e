import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the Teams client around a tab: a page on its own origin that frames the tab and
 * answers teams-js over postMessage the way Teams does — `initialize` with the frame context,
 * client type and runtime config, `getContext` with the legacy context, and
 * `authentication.getAuthToken` with an SSO token for the signed-in user.
 */
export class TeamsHostPage {
  url = '';
  private readonly server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(
        hostHtml(
          url.searchParams.get('tab') ?? '',
          url.searchParams.get('token') ?? '',
          url.searchParams.get('oid') ?? '',
        ),
      );
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  pageFor(tabUrl: string, user: { oid: string; token: string }): string {
    return `${this.url}/?${new URLSearchParams({ tab: tabUrl, token: user.token, oid: user.oid })}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function hostHtml(tab: string, token: string, oid: string): string {
  const runtime = {
    apiVersion: 4,
    isLegacyTeams: false,
    supports: {
      app: {},
      appInstallDialog: {},
      authentication: {},
      pages: { appButton: {}, tabs: {}, config: {}, backStack: {}, fullTrust: {} },
      teamsCore: {},
    },
  };
  const context = {
    locale: 'en-us',
    theme: 'dark',
    frameContext: 'content',
    hostClientType: 'web',
    hostName: 'Teams',
    userObjectId: oid,
    userPrincipalName: 'alice@contoso.example',
    tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    appSessionId: 'session-1',
    entityId: 'patchflow',
  };
  return `<!doctype html><html><body>
<iframe id="tab" src="${tab}" style="width:100%;height:90vh;border:0"></iframe>
<script>
  const frame = document.getElementById('tab');
  const runtime = ${JSON.stringify(JSON.stringify(runtime))};
  const context = ${JSON.stringify(context)};
  const token = ${JSON.stringify(token)};
  window.addEventListener('message', (event) => {
    const msg = event.data;
    if (!msg || typeof msg.func !== 'string' || event.source !== frame.contentWindow) return;
    const reply = (args) => frame.contentWindow.postMessage({ id: msg.id, uuid: msg.uuid, args }, '*');
    if (msg.func === 'initialize') reply(['content', 'web', runtime, '2.0.0']);
    else if (msg.func === 'getContext') reply([context]);
    else if (msg.func === 'authentication.getAuthToken') reply(token ? [true, token] : [false, 'resourceDisabled']);
    else reply([]);
  });
</script></body></html>`;
}

import { basicAuth } from '../kit/support/http.ts';
import type { SccmConfig } from './config.ts';

export interface AdminServiceRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: URL;
  headers: Record<string, string>;
  body?: string | undefined;
}

export interface AdminServiceAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP exchange on the client's keep-alive connection pool. */
export type AdminServiceTransport = (request: AdminServiceRequest) => Promise<AdminServiceAnswer>;

/**
 * How a request proves who sends it. A scheme owns the whole exchange rather than adding a header,
 * because Windows integrated auth takes several round trips: Negotiate (Kerberos or NTLM) answers
 * the server's `401 WWW-Authenticate: Negotiate <token>` challenge and, for NTLM, must finish on the
 * connection it started on.
 */
export interface AdminServiceAuth {
  send(request: AdminServiceRequest, transport: AdminServiceTransport): Promise<AdminServiceAnswer>;
}

/** Basic: one round trip with the credentials on every request. */
function basicScheme(username: string, password: string): AdminServiceAuth {
  const authorization = basicAuth(username, password);
  return {
    send: (request, transport) => transport({ ...request, headers: { ...request.headers, authorization } }),
  };
}

export function adminServiceAuth(config: Pick<SccmConfig, 'auth' | 'username' | 'password'>): AdminServiceAuth {
  switch (config.auth) {
    case 'basic':
      return basicScheme(config.username, config.password);
  }
}

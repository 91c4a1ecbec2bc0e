import { SaxesParser } from 'saxes';
import { InputError } from '../../kernel/errors.ts';
import { htmlTitle, looksLikeHtml, maybeGunzip } from './http.ts';

/**
 * Turning feed bytes into values, with errors that say what was wrong: an HTML page where data
 * was expected, JSON cut short, XML that declares entities.
 */

/** UTF-8 text without a byte-order mark; MSRC serves some CVRF documents with one. */
export function feedText(body: Buffer | string, what: string): string {
  const text = (typeof body === 'string' ? body : maybeGunzip(body).toString('utf8')).replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new InputError(`${what} is empty`, [{ path: [], message: 'empty' }]);
  if (looksLikeHtml(text)) {
    throw new InputError(
      `${what} is an HTML page${htmlTitle(text)}, not feed data; was an error page saved instead of the file?`,
      [{ path: [], message: 'HTML instead of feed data' }],
    );
  }
  return text;
}

export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InputError(
      `${what} is not valid JSON (${(err as Error).message}); the file may be truncated`,
      [{ path: [], message: 'not valid JSON' }],
      err,
    );
  }
}

export interface XmlElement {
  /** Local name, without prefix: CVRF documents come both prefixed (`vuln:CVE`) and with default namespaces. */
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside this element, entity-decoded. */
  text: string;
}

/**
 * A small DOM for feed documents. Any DOCTYPE is refused: feeds have no use for one, and it is how
 * XML external-entity (XXE) and entity-expansion attacks begin. saxes itself never fetches anything.
 */
export function parseXml(text: string, what: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  let refusal: InputError | undefined;
  parser.on('doctype', () => {
    refusal ??= new InputError(`${what} declares a DOCTYPE; refused because DTDs enable XML external-entity attacks`, [
      { path: [], message: 'DOCTYPE not allowed' },
    ]);
  });
  parser.on('opentag', (tag) => {
    const el: XmlElement = {
      name: tag.local,
      attrs: Object.fromEntries(Object.values(tag.attributes).map((a) => [a.local, a.value])),
      children: [],
      text: '',
    };
    stack.at(-1)?.children.push(el);
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.on('text', (t) => {
    const top = stack.at(-1);
    if (top) top.text += t;
  });
  parser.on('cdata', (t) => {
    const top = stack.at(-1);
    if (top) top.text += t;
  });
  try {
    parser.write(text);
    if (refusal) throw refusal;
    parser.close();
  } catch (err) {
    // The DOCTYPE is the cause even when saxes trips over the undeclared entity first.
    if (refusal) throw refusal;
    if (err instanceof InputError) throw err;
    throw new InputError(
      `${what} is not well-formed XML (${(err as Error).message}); the file may be truncated`,
      [{ path: [], message: 'not well-formed XML' }],
      err,
    );
  }
  if (refusal) throw refusal;
  const top = root.children[0];
  if (!top) throw new InputError(`${what} has no root element`, [{ path: [], message: 'no root element' }]);
  return top;
}

export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

export function children(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

export function childText(el: XmlElement | undefined, name: string): string | undefined {
  const c = el ? child(el, name) : undefined;
  const t = c?.text.trim();
  return t ? t : undefined;
}

/** NVD and MSRC write timestamps without a zone; both mean UTC. */
export function utcTimestamp(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const withZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`;
  const t = Date.parse(withZone);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

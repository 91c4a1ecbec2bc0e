import { SaxesParser } from 'saxes';

/** A namespace-resolved XML element: enough of a DOM for SOAP envelopes. */
export interface XmlElement {
  uri: string;
  local: string;
  /** Attributes by local name (WS-Man attributes are unqualified or unambiguous). */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated text directly inside this element. */
  text: string;
}

export function parseXml(xml: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  parser.on('opentag', (tag) => {
    const attrs: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) {
      if (a.prefix !== 'xmlns' && a.name !== 'xmlns') attrs[a.local] = a.value;
    }
    const el: XmlElement = { uri: tag.uri, local: tag.local, attrs, children: [], text: '' };
    stack.at(-1)?.children.push(el);
    root ??= el;
    stack.push(el);
  });
  const onText = (t: string) => {
    const top = stack.at(-1);
    if (top) top.text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => void stack.pop());
  parser.write(xml).close();
  if (!root) throw new Error('empty XML document');
  return root;
}

/** The first descendant (depth-first, the element itself included) with this name. */
export function findElement(el: XmlElement, uri: string, local: string): XmlElement | undefined {
  if (el.uri === uri && el.local === local) return el;
  for (const c of el.children) {
    const hit = findElement(c, uri, local);
    if (hit) return hit;
  }
  return undefined;
}

export function findElements(el: XmlElement, uri: string, local: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (e.uri === uri && e.local === local) out.push(e);
    e.children.forEach(walk);
  };
  walk(el);
  return out;
}

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

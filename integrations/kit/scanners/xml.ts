import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { InputError, PatchflowError } from '../../../kernel/errors.ts';

/**
 * A streaming reader for scanner reports: it hands each element to a format handler as saxes
 * reads it, so nothing beyond the current element is ever held, whatever the file's size.
 *
 * Safe by construction: saxes never fetches external entities or expands entities declared in
 * a DTD (an undeclared `&name;` is a parse error), and a DOCTYPE that declares entities is
 * refused outright, so neither XXE nor "billion laughs" can get past the first lines.
 */

/**
 * What a format (Nessus, OpenVAS) does with elements; `open` returns true to receive the
 * element's text in `close`. Attribute values are views into the parser's current chunk: a
 * handler keeps one beyond the element only through `detached`.
 */
export interface XmlElementHandler {
  open(name: string, attributes: Record<string, string>): boolean;
  close(name: string, text: string): void;
}

export interface XmlPosition {
  /** An InputError naming the current line and column, for content that is well-formed XML but not a valid report. */
  fail(message: string): InputError;
}

/**
 * Text kept for one element. Real values (a CVE id, a CVSS vector, a host name) are tiny; the
 * cap bounds memory against a hostile file rather than a real one.
 */
const MAX_ELEMENT_TEXT = 64 * 1024;

/** An element whose text the handler asked for; only these are kept, so the common element costs nothing. */
interface Capture {
  name: string;
  /** Nesting depth of the element, so that text of elements inside it (not captured) is left out. */
  depth: number;
  text: string;
  /** Parser position at the start tag, to bound the text saxes buffers before it hands it over. */
  from: number;
}

export class XmlReportReader {
  private readonly parser = new SaxesParser<{ xmlns: false; position: true }>({ xmlns: false, position: true });
  private readonly captures: Capture[] = [];
  private depth = 0;
  /** Depth of the innermost captured element, -1 when none: text is wanted exactly when it equals `depth`. */
  private captureDepth = -1;
  private handler: XmlElementHandler | undefined;
  private decoder: TextDecoder | undefined;
  private capturing = false;
  private readonly appendText = (text: string) => {
    const top = this.captures[this.captures.length - 1];
    if (!top || this.captureDepth !== this.depth) return;
    if (top.text.length + text.length > MAX_ELEMENT_TEXT)
      throw this.fail(`<${top.name}> holds more than ${MAX_ELEMENT_TEXT} characters of text`);
    top.text += text;
  };

  /** `chooseHandler` sees the root element's name and returns the handler for that format, or throws. */
  constructor(chooseHandler: (root: string, position: XmlPosition) => XmlElementHandler) {
    this.parser.on('doctype', (doctype) => {
      if (/<!ENTITY/i.test(doctype))
        throw this.fail(
          'the document declares entities in a DOCTYPE; scanner reports never do, and they are refused to prevent entity-expansion and external-entity attacks',
        );
    });
    this.parser.on('opentag', (tag: SaxesTagPlain) => {
      this.handler ??= chooseHandler(tag.name, this);
      this.depth += 1;
      if (this.handler.open(tag.name, tag.attributes)) {
        this.captures.push({ name: tag.name, depth: this.depth, text: '', from: this.parser.position });
        this.captureDepth = this.depth;
      }
      this.syncTextHandler();
    });
    this.parser.on('closetag', (tag: SaxesTagPlain) => {
      const captured = this.captureDepth === this.depth ? this.captures.pop() : undefined;
      if (captured) this.captureDepth = this.captures[this.captures.length - 1]?.depth ?? -1;
      this.depth -= 1;
      this.handler?.close(tag.name, captured ? detached(captured.text) : '');
      this.syncTextHandler();
    });
    this.parser.on('cdata', this.appendText);
  }

  /**
   * saxes gathers a text node only while a text handler is set, so the handler is attached only
   * directly inside elements whose text is wanted: long descriptions and plugin output cost no memory.
   */
  private syncTextHandler(): void {
    const wanted = this.captureDepth === this.depth;
    if (wanted === this.capturing) return;
    if (wanted) this.parser.on('text', this.appendText);
    else this.parser.off('text');
    this.capturing = wanted;
  }

  fail(message: string): InputError {
    const where = `line ${this.parser.line}, column ${this.parser.column + 1}`;
    return new InputError(`invalid scan report at ${where}: ${message}`, [
      { path: ['line', this.parser.line], message },
    ]);
  }

  /** Feeds raw bytes; the encoding comes from the XML declaration (UTF-8 when there is none), a BOM is dropped. */
  write(bytes: Uint8Array): void {
    this.decoder ??= new TextDecoder(declaredEncoding(bytes, this));
    this.feed(this.decoder.decode(bytes, { stream: true }));
  }

  /** Ends the document; a truncated report fails here with the element left open. */
  end(): void {
    this.feed(this.decoder?.decode() ?? '');
    if (!this.handler) throw new InputError('the scan report is empty', [{ path: [], message: 'no XML root element' }]);
    this.guard(() => this.parser.close());
  }

  private feed(text: string): void {
    if (text === '') return;
    this.guard(() => this.parser.write(text));
    const top = this.captures[this.captures.length - 1];
    if (top && this.parser.position - top.from > MAX_ELEMENT_TEXT * 2) {
      throw this.fail(`<${top.name}> holds more than ${MAX_ELEMENT_TEXT} characters of text`);
    }
  }

  /** saxes reports malformed XML as a plain Error "line:column: message"; it becomes an InputError with the position. */
  private guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      if (err instanceof PatchflowError) throw err;
      const message = (err as Error).message.replace(/^\d+:\d+: /, '');
      throw this.fail(`not well-formed XML: ${message}`);
    }
  }
}

/**
 * A copy of `value` that does not share memory with the chunk it was cut from. V8 represents a
 * substring as a view into its parent, so one kept CVE id or plugin name would otherwise keep
 * its whole 64 KiB chunk alive, and a large report would pile up in memory chunk by chunk.
 */
export function detached(value: string): string {
  return ` ${value}`.slice(1);
}

const beyondLatin1 = /[^\u0000-\u00ff]/;
/** Reused by `compactCopy`, which runs for every new CVE id of a report: a buffer each would cost more than the copy. */
const latin1Scratch = Buffer.alloc(4096);

/**
 * A detached copy, one byte per character whenever the value allows. V8 stores a chunk holding
 * a single character beyond Latin-1 (an en dash in a description) two bytes per character, and
 * every substring of it too; a copy through Latin-1 bytes is one byte per character, and so is
 * the JSON built from such copies. Dearer than `detached`: for values kept for long.
 */
export function compactCopy(value: string): string {
  if (value.length > latin1Scratch.length || beyondLatin1.test(value)) return detached(value);
  const bytes = latin1Scratch.write(value, 'latin1');
  return latin1Scratch.toString('latin1', 0, bytes);
}

/**
 * Shared compact copies of the values a report repeats: a plugin's name, id and family, ports.
 * A large report names a few thousand distinct ones across a million items, so findings held
 * for a batch share copies instead of each holding its own.
 */
export class SharedStrings {
  private readonly copies = new Map<string, string>();

  /** `capacity` bounds the memory kept, whatever the report: past it, sharing starts afresh. */
  constructor(private readonly capacity = 50_000) {}

  get(value: string): string {
    let copy = this.copies.get(value);
    if (copy === undefined) {
      if (this.copies.size >= this.capacity) this.copies.clear();
      copy = compactCopy(value);
      this.copies.set(copy, copy);
    }
    return copy;
  }
}

/** The `encoding` of an XML declaration at the start of the first chunk; scanners write UTF-8, some older tools ISO-8859-1. */
function declaredEncoding(firstBytes: Uint8Array, position: XmlPosition): string {
  const head = new TextDecoder('latin1').decode(firstBytes.subarray(0, 200));
  const label = /^(?:\uFEFF|ï»¿)?<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)?.[1] ?? 'utf-8';
  try {
    new TextDecoder(label);
  } catch {
    throw position.fail(`unsupported character encoding "${label}"`);
  }
  return label;
}

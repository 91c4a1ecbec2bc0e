import { InputError } from './errors.ts';

export interface CsvRecord {
  /** 1-based line on which the record starts (a quoted field may span lines). */
  line: number;
  fields: string[];
}

/**
 * RFC 4180: comma-separated fields, double quotes around fields holding commas, quotes or line
 * breaks, `""` for a quote inside one; CRLF, LF or CR line ends. Blank lines are skipped, as
 * spreadsheets write them. A stray quote is an error naming the line rather than a guess.
 */
export function parseCsv(text: string): CsvRecord[] {
  const input = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const fail = (at: number, message: string) =>
    new InputError(`CSV line ${at}: ${message}`, [{ path: ['line', at], message }]);
  const isLineEnd = (c: string) => c === '\r' || c === '\n';
  const endRecord = () => {
    // A blank line parses as one empty field; spreadsheets write those, they are not records.
    if (fields.length > 1 || fields[0] !== '') records.push({ line: recordLine, fields });
    fields = [];
  };
  while (i < input.length) {
    let value = '';
    if (input.charAt(i) === '"') {
      const openedOn = line;
      i += 1;
      for (;;) {
        if (i >= input.length) throw fail(openedOn, 'quoted field is never closed');
        const c = input.charAt(i);
        if (c === '"' && input.charAt(i + 1) === '"') {
          value += '"';
          i += 2;
        } else if (c === '"') {
          i += 1;
          break;
        } else {
          if (c === '\n' || (c === '\r' && input.charAt(i + 1) !== '\n')) line += 1;
          value += c;
          i += 1;
        }
      }
      if (i < input.length && input.charAt(i) !== ',' && !isLineEnd(input.charAt(i)))
        throw fail(line, 'text after a closing quote');
    } else {
      while (i < input.length && input.charAt(i) !== ',' && !isLineEnd(input.charAt(i))) {
        if (input.charAt(i) === '"')
          throw fail(line, 'a quote inside an unquoted field; quote the whole field and double the quote');
        value += input.charAt(i);
        i += 1;
      }
    }
    fields.push(value);
    const delimiter = input.charAt(i);
    if (delimiter === ',') {
      i += 1;
      if (i === input.length) fields.push('');
    } else if (isLineEnd(delimiter)) {
      endRecord();
      i += delimiter === '\r' && input.charAt(i + 1) === '\n' ? 2 : 1;
      line += 1;
      recordLine = line;
    }
  }
  if (fields.length > 0) endRecord();
  return records;
}

import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../kernel/csv.ts';

describe('RFC 4180 CSV reader', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks, CRLF or LF, and skips blank lines', () => {
    const text =
      '\uFEFFhostname,tags,notes\r\nweb-01,"pci;web","said ""hi"", left"\n\nweb-02,,"two\r\nlines"\r\nweb-03,x,\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['hostname', 'tags', 'notes'] },
      { line: 2, fields: ['web-01', 'pci;web', 'said "hi", left'] },
      { line: 4, fields: ['web-02', '', 'two\r\nlines'] },
      { line: 6, fields: ['web-03', 'x', ''] },
    ]);
  });

  it('keeps an empty last field at the end of the file and an empty quoted field', () => {
    expect(parseCsv('a,""\nb,')).toEqual([
      { line: 1, fields: ['a', ''] },
      { line: 2, fields: ['b', ''] },
    ]);
  });

  it.each([
    ['a,b\n"open,c', /line 2: quoted field is never closed/],
    ['a,b\nx"y,c', /line 2: a quote inside an unquoted field/],
    ['a,b\n"x"y,c', /line 2: text after a closing quote/],
  ])('names the line of %j', (text, message) => {
    expect(() => parseCsv(text)).toThrow(message);
  });
});

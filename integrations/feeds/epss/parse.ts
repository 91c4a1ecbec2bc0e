import { z } from 'zod';
import type { ErrorDetail } from '../../../kernel/errors.ts';
import { InputError } from '../../../kernel/errors.ts';
import { parseInput } from '../../../kernel/validate.ts';
import { cveIdSchema, type FeedBatch } from '../batch.ts';
import { feedText, parseJsonText } from '../parse.ts';

export interface EpssScores {
  /** The day the scores are for (YYYY-MM-DD). */
  scoreDate: string;
  modelVersion?: string | undefined;
  batch: FeedBatch;
}

const probabilityText = z
  .string()
  .regex(/^(0(\.\d+)?|1(\.0+)?|\d\.\d+e-\d+)$/, 'a probability between 0 and 1')
  .transform(Number)
  .pipe(z.number().min(0).max(1));

/** The EPSS data API (api.first.org/data/v1/epss): scores arrive as strings. */
const epssApiSchema = z.object({
  status: z.string(),
  data: z.array(
    z.object({
      cve: cveIdSchema,
      epss: probabilityText,
      percentile: probabilityText,
      date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    }),
  ),
});

/** An EPSS scores file: the CSV with its `#model_version:…,score_date:…` line, or a JSON answer of the EPSS API. */
export function parseEpss(body: Buffer | string): EpssScores {
  const text = feedText(body, 'EPSS file');
  return text.trimStart().startsWith('{') ? parseEpssApi(text) : parseEpssCsv(text);
}

function parseEpssApi(text: string): EpssScores {
  const api = parseInput(epssApiSchema, parseJsonText(text, 'EPSS API response'), 'EPSS API response');
  const dates = [...new Set(api.data.map((d) => d.date))].sort();
  return {
    scoreDate: dates.at(-1) ?? '',
    batch: {
      cves: api.data.map((d) => ({ id: d.cve, epss: d.epss, epssPercentile: d.percentile, epssDate: d.date })),
      advisories: [],
    },
  };
}

const maxReported = 20;

function parseEpssCsv(text: string): EpssScores {
  const lines = text.split(/\r?\n/);
  let i = 0;
  let modelVersion: string | undefined;
  let scoreDate: string | undefined;
  // Older files have no comment line; their rows then carry no date and we cannot order them against newer scores.
  if (lines[0]?.startsWith('#')) {
    const meta = Object.fromEntries(
      lines[0]
        .slice(1)
        .split(',')
        .map((kv) => [kv.slice(0, kv.indexOf(':')).trim(), kv.slice(kv.indexOf(':') + 1).trim()]),
    );
    modelVersion = meta['model_version'];
    scoreDate = /^\d{4}-\d{2}-\d{2}/.exec(meta['score_date'] ?? '')?.[0];
    i = 1;
  }
  if (!scoreDate)
    throw new InputError('EPSS CSV has no "#model_version:…,score_date:…" line naming the score date', [
      { path: ['line', 1], message: 'missing score_date' },
    ]);
  const header = lines[i]?.trim().toLowerCase().split(',');
  if (header?.join(',') !== 'cve,epss,percentile') {
    throw new InputError(`EPSS CSV line ${i + 1} should be the header "cve,epss,percentile"`, [
      { path: ['line', i + 1], message: 'expected header cve,epss,percentile' },
    ]);
  }
  const cves: FeedBatch['cves'] = [];
  const problems: ErrorDetail[] = [];
  let bad = 0;
  for (let n = i + 1; n < lines.length; n++) {
    const line = lines[n]?.trim();
    if (!line) continue;
    const [cve, epss, percentile, ...extra] = line.split(',');
    const fields = {
      cve: cveIdSchema.safeParse(cve),
      epss: probabilityText.safeParse(epss ?? ''),
      percentile: probabilityText.safeParse(percentile ?? ''),
    };
    const wrong = Object.entries(fields)
      .filter(([, r]) => !r.success)
      .map(([f]) => f);
    if (extra.length) wrong.push('columns');
    if (wrong.length || !fields.cve.success || !fields.epss.success || !fields.percentile.success) {
      bad += 1;
      if (problems.length < maxReported)
        problems.push(
          ...wrong.map((f) => ({
            path: ['line', n + 1, f],
            message: f === 'columns' ? 'more than 3 columns' : `bad ${f}: ${JSON.stringify(line.slice(0, 80))}`,
          })),
        );
      continue;
    }
    cves.push({
      id: fields.cve.data,
      epss: fields.epss.data,
      epssPercentile: fields.percentile.data,
      epssDate: scoreDate,
    });
  }
  // All or nothing: a file with bad rows is a damaged file, and half a day's scores would mislead.
  if (bad)
    throw new InputError(
      `EPSS CSV has ${bad} bad row(s); first: line ${problems[0]?.path[1]} ${problems[0]?.message}`,
      problems,
    );
  return { scoreDate, modelVersion, batch: { cves, advisories: [] } };
}

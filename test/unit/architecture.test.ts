import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectImports, roomCycles } from '../helpers/import-graph.ts';

const root = path.resolve(import.meta.dirname, '../..');
const rooms = [
  'kernel',
  'runtime',
  'app',
  'server',
  'activities',
  'workflows',
  'integrations',
  'db',
  'prioritization',
  'bin',
  'demo',
  'web',
  'temporal.config.ts',
];

describe('the house: rooms and their imports', () => {
  const imports = projectImports(root, rooms);

  it('reads the imports of every room', () => {
    // Guards the test itself: a parser that found nothing would pass the checks below vacuously.
    expect(imports.length).toBeGreaterThan(300);
    expect(imports.some((i) => i.from.startsWith('runtime/') && i.to.startsWith('activities/') && !i.typeOnly)).toBe(
      true,
    );
  });

  it('has no import cycle between rooms', () => {
    expect(roomCycles(imports)).toEqual([]);
  });

  it('finds a cycle when one is there', () => {
    const cycle = roomCycles([...imports, { from: 'kernel/errors.ts', to: 'app/cycles.ts', typeOnly: false }]);
    expect(cycle.length).toBeGreaterThan(0);
    expect(cycle[0]).toContain('kernel');
    // A type-only import is erased at run time and forms no cycle.
    expect(roomCycles([...imports, { from: 'kernel/errors.ts', to: 'app/cycles.ts', typeOnly: true }])).toEqual([]);
  });

  it('keeps the kernel free of the project, and the use cases free of their edges', () => {
    const valueImports = (from: string) =>
      imports.filter((i) => i.from.startsWith(`${from}/`) && !i.typeOnly).map((i) => i.to.split(path.sep)[0]);
    expect(new Set(valueImports('kernel'))).toEqual(new Set(['kernel']));
    expect(valueImports('app').filter((r) => ['server', 'runtime', 'bin', 'activities'].includes(r!))).toEqual([]);
    expect(
      valueImports('integrations').filter((r) => ['db', 'app', 'server', 'runtime', 'activities'].includes(r!)),
    ).toEqual([]);
  });
});

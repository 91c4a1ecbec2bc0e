import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One import of one project file by another, as the TypeScript parser reads it. */
export interface ProjectImport {
  from: string;
  to: string;
  /** `import type` (or only type specifiers): erased at run time, so it cannot form a runtime cycle. */
  typeOnly: boolean;
}

const sourceExtensions = /\.(ts|mts|mjs|js)$/;

function sourceFiles(root: string, dir: string): string[] {
  if (!statSync(path.join(root, dir)).isDirectory()) return sourceExtensions.test(dir) ? [dir] : [];
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory())
      return name === 'fixtures' || name === 'node_modules' || name === 'vendor' ? [] : sourceFiles(root, rel);
    return sourceExtensions.test(name) ? [rel] : [];
  });
}

function isTypeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node))
    return (
      node.isTypeOnly ||
      (!!node.exportClause &&
        ts.isNamedExports(node.exportClause) &&
        node.exportClause.elements.every((e) => e.isTypeOnly))
    );
  const clause = node.importClause;
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return (
    !clause.name &&
    !!named &&
    ts.isNamedImports(named) &&
    named.elements.length > 0 &&
    named.elements.every((e) => e.isTypeOnly)
  );
}

/** Every relative import between the project's source files below `folders`. */
export function projectImports(root: string, folders: readonly string[]): ProjectImport[] {
  const imports: ProjectImport[] = [];
  for (const file of folders.flatMap((f) => sourceFiles(root, f))) {
    const source = ts.createSourceFile(file, readFileSync(path.join(root, file), 'utf8'), ts.ScriptTarget.Latest, true);
    const add = (specifier: string, typeOnly: boolean) => {
      if (specifier.startsWith('.'))
        imports.push({ from: file, to: path.normalize(path.join(path.dirname(file), specifier)), typeOnly });
    };
    const visit = (node: ts.Node): void => {
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        add(node.moduleSpecifier.text, isTypeOnly(node));
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        add(node.arguments[0].text, false);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return imports;
}

/** The top-level folder (room) a project path belongs to; a top-level file is its own room. */
export function roomOf(file: string): string {
  return file.split(path.sep)[0] ?? file;
}

/** Cycles in the graph of rooms, each as the list of rooms around it; empty when the rooms form a DAG. */
export function roomCycles(imports: readonly ProjectImport[]): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const i of imports) {
    const [a, b] = [roomOf(i.from), roomOf(i.to)];
    if (a !== b && !i.typeOnly) edges.set(a, (edges.get(a) ?? new Set()).add(b));
  }
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (room: string) => {
    state.set(room, 'open');
    stack.push(room);
    for (const next of edges.get(room) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(room, 'done');
  };
  for (const room of [...edges.keys()].sort()) if (!state.has(room)) visit(room);
  return cycles;
}

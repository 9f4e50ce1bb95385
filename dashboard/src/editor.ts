// CodeMirror 6 with YAML, loaded only by the pages that edit (it is most of the bundle).
import { EditorState, Compartment } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import { yaml } from '@codemirror/lang-yaml';
import { lintGutter, setDiagnostics } from '@codemirror/lint';

/** A problem at a line (1-based) and column of the text. */
export interface Mark {
  line: number;
  column: number;
  message: string;
}

export interface YamlEditor {
  setText(text: string): void;
  setReadOnly(readOnly: boolean): void;
  setMarks(marks: Mark[]): void;
  destroy(): void;
}

// The page's Content-Security-Policy allows no <style> elements, which is how CodeMirror
// styles a document; inside a shadow root it uses constructable style sheets instead, which the
// policy does not concern. The page's colours reach it through CSS custom properties.
const theme = EditorView.theme({
  '&': { height: '420px', color: 'var(--text)', backgroundColor: 'var(--surface)' },
  '.cm-scroller': { fontFamily: "ui-monospace, 'SFMono-Regular', 'DejaVu Sans Mono', Menlo, Consolas, monospace" },
  '.cm-gutters': { backgroundColor: 'var(--surface-2)', color: 'var(--muted)', borderRight: '1px solid var(--border)' },
  '.cm-activeLine, .cm-activeLineGutter': { backgroundColor: 'var(--surface-2)' },
  '.cm-cursor': { borderLeftColor: 'var(--text)' },
  '&.cm-focused': { outline: '3px solid var(--focus)' },
  '.cm-lintRange-error': { backgroundColor: 'var(--red-bg)' },
});

export function createYamlEditor(
  host: HTMLElement,
  text: string,
  readOnly: boolean,
  label: string,
  onChange: (text: string) => void,
): YamlEditor {
  const editable = new Compartment();
  const access = (ro: boolean) => [EditorState.readOnly.of(ro), EditorView.editable.of(!ro)];
  const root = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
  const view = new EditorView({
    parent: root,
    root,
    state: EditorState.create({
      doc: text,
      extensions: [
        basicSetup,
        theme,
        yaml(),
        lintGutter(),
        editable.of(access(readOnly)),
        EditorView.contentAttributes.of({ 'aria-label': label, 'data-testid': 'values-text' }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    setText(next) {
      if (view.state.doc.toString() !== next) {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: next } });
      }
    },
    setReadOnly(ro) {
      view.dispatch({ effects: editable.reconfigure(access(ro)) });
    },
    setMarks(marks) {
      const doc = view.state.doc;
      const diagnostics = marks
        .filter((m) => m.line >= 1 && m.line <= doc.lines)
        .map((m) => {
          const line = doc.line(m.line);
          const from = line.from + Math.min(Math.max(m.column - 1, 0), line.length);
          return { from, to: line.to, severity: 'error' as const, message: m.message };
        });
      view.dispatch(setDiagnostics(view.state, diagnostics));
    },
    destroy() {
      view.destroy();
    },
  };
}

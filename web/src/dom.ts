/** A few DOM helpers instead of a view framework: the views are tables and charts redrawn per commit. */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export interface Column<Row> {
  label: string;
  value: (r: Row) => Child;
  /** Numbers are right-aligned. */
  num?: boolean;
  /** A sort key for sortable tables. */
  key?: string;
  title?: (r: Row) => string;
}

export interface TableOptions<Row> {
  caption?: string;
  footer?: Row;
  sort?: { key: string; desc: boolean; onSort: (key: string) => void };
  rowAttrs?: (r: Row) => Attrs;
  testid?: string;
}

export function table<Row>(columns: Column<Row>[], rows: Row[], o: TableOptions<Row> = {}): HTMLTableElement {
  const head = h(
    'tr',
    {},
    columns.map((c) => {
      const sorted = o.sort && c.key === o.sort.key;
      const label = o.sort && c.key ? h('button', { type: 'button', class: 'sort', onclick: () => o.sort!.onSort(c.key!) }, c.label, sorted ? (o.sort.desc ? ' ▾' : ' ▴') : '') : c.label;
      return h('th', { scope: 'col', class: c.num ? 'num' : null, 'aria-sort': sorted ? (o.sort!.desc ? 'descending' : 'ascending') : null }, label);
    }),
  );
  const row = (r: Row, tag: 'td' | 'th' = 'td') =>
    h('tr', o.rowAttrs?.(r) ?? {}, columns.map((c) => h(tag === 'th' ? 'td' : 'td', { class: c.num ? 'num' : null, title: c.title?.(r) ?? null }, c.value(r))));
  return h(
    'table',
    { 'data-testid': o.testid ?? null },
    o.caption ? h('caption', {}, o.caption) : null,
    h('thead', {}, head),
    h('tbody', {}, rows.map((r) => row(r))),
    o.footer ? h('tfoot', {}, row(o.footer, 'th')) : null,
  );
}

export function section(title: string, ...children: (Child | Child[])[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export function empty(text: string): HTMLElement {
  return h('p', { class: 'empty' }, text);
}

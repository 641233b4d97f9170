/** A tiny element builder: text always goes in as text (never HTML), so lake data cannot inject markup. */

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces every child of `parent`. */
export function replace(parent: Node, ...children: (Child | Child[])[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`no element #${id}`);
  return element as T;
}

/** A table with a header row; `numeric` columns are right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly Child[])[], options: { numeric?: readonly number[]; empty?: string; id?: string } = {}): HTMLElement {
  const numeric = new Set(options.numeric ?? []);
  if (rows.length === 0) return h('p', { class: 'empty' }, options.empty ?? 'nothing in this range');
  return h(
    'table',
    { class: 'data', id: options.id },
    h('thead', {}, h('tr', {}, headers.map((header, column) => h('th', { class: numeric.has(column) ? 'num' : undefined }, header)))),
    h(
      'tbody',
      {},
      rows.map((row) => h('tr', {}, row.map((cell, column) => h('td', { class: numeric.has(column) ? 'num' : undefined }, cell)))),
    ),
  );
}

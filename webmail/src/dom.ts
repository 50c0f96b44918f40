// DOM helpers: elements are built from text, never from HTML strings, so
// nothing a message says can become markup in the app.

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") e.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false) e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

export function clear(e: Element, ...children: Child[]): void {
  e.replaceChildren(...(children.filter(Boolean) as (Node | string)[]));
}

export function $(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (!e) throw new Error("no #" + id);
  return e;
}

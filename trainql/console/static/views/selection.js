// The runs picked for comparison, kept for the browser tab (sessionStorage) so that they
// survive paging, filtering and visits to run pages.

const KEY = "trainql.compare";

export function compareSelection() {
  const read = () => {
    try {
      const ids = JSON.parse(window.sessionStorage.getItem(KEY) ?? "[]");
      return Array.isArray(ids) ? ids.map(String) : [];
    } catch {
      return [];
    }
  };
  const write = (ids) => window.sessionStorage.setItem(KEY, JSON.stringify(ids));
  return {
    ids: read,
    has: (id) => read().includes(String(id)),
    add: (id) => write([...new Set([...read(), String(id)])]),
    remove: (id) => write(read().filter((other) => other !== String(id))),
    clear: () => window.sessionStorage.removeItem(KEY),
  };
}

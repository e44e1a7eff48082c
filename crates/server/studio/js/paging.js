// Lists that load page by page as they scroll (the gallery, the tasks), and the
// date filters they share.

/**
 * Calls `loadPage(cursor)` (resolving `{ cursor: next or null }`) whenever
 * `sentinel` comes near the screen, one page at a time, until there is no next
 * cursor; then keeps loading while the sentinel is still on screen (tall screens,
 * short pages). Returns `{ loadMore, stop }`; `loadMore()` also starts the first page.
 */
export function pager(sentinel, loadPage) {
  let cursor = null;
  let done = false;
  let loading = false;

  async function loadMore() {
    if (loading || done) return;
    loading = true;
    try {
      const next = await loadPage(cursor);
      cursor = next || null;
      done = !cursor;
    } catch {
      done = true;
    } finally {
      loading = false;
    }
    if (!done && sentinel.getBoundingClientRect().top < window.innerHeight + 400) loadMore();
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadMore();
  }, { rootMargin: '400px' });
  observer.observe(sentinel);
  return { loadMore, stop: () => observer.disconnect() };
}

/** The start of a day (`YYYY-MM-DD`, the viewer's time zone) as RFC 3339, or ''. */
export function dayStart(day) {
  return day ? new Date(`${day.slice(0, 10)}T00:00:00`).toISOString() : '';
}

/** The end of a day (the next day's start) as RFC 3339, or ''. */
export function dayEnd(day) {
  return day ? new Date(new Date(`${day.slice(0, 10)}T00:00:00`).getTime() + 86_400_000).toISOString() : '';
}

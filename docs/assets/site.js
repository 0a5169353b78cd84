// sbn_estimators docs: client-side search over assets/search-index.js (loaded on first use; works from file:// too).
(function () {
  const root = document.body.dataset.root || '';
  const box = document.getElementById('search'), list = document.getElementById('search-results');
  if (!box) return;
  let loading = null;
  const load = () => loading || (loading = new Promise((ok, fail) => {
    const s = document.createElement('script');
    s.src = root + 'assets/search-index.js'; s.onload = ok; s.onerror = fail;
    document.head.appendChild(s);
  }));
  const esc = t => t.replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
  function show() {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length || !window.SEARCH_INDEX) { list.hidden = true; return; }
    const query = words.join(' '), hits = [];
    // rank: the query as a whole section heading, then as the start of a page's title, then words in the section
    // heading, then words in the page title; a shorter heading first among equals
    for (const e of window.SEARCH_INDEX) {
      const h = e.h.toLowerCase(), t = e.t.toLowerCase(), all = t + ' ' + h + ' ' + e.x.toLowerCase();
      if (!words.every(w => all.includes(w))) continue;
      const score = (h === query ? 100 : 0) + (!e.h && t.startsWith(query) ? 60 : 0)
                  + words.filter(w => h.includes(w)).length * 20 + words.filter(w => t.includes(w)).length * 10;
      hits.push([score, -(e.h || e.t).length, e]);
    }
    hits.sort((a, b) => b[0] - a[0] || b[1] - a[1]);
    list.innerHTML = hits.slice(0, 12).map(([, , e]) =>
      `<li><a href="${root}${e.u}">${esc(e.h || e.t)}<small>${esc(e.h ? e.t : e.x.slice(0, 90))}</small></a></li>`
    ).join('') || '<li><a>No results</a></li>';
    list.hidden = false;
  }
  box.addEventListener('focus', () => load().then(show));
  box.addEventListener('input', () => load().then(show));
  box.addEventListener('keydown', e => { if (e.key === 'Escape') { list.hidden = true; box.blur(); } });
  document.addEventListener('click', e => { if (!e.target.closest('.search')) list.hidden = true; });
})();

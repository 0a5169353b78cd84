// sbn_estimators docs: client-side search over assets/search-index.js (loaded on first use; works from file:// too).
// Enter opens the selected hit (the first one unless the arrow keys moved the selection); Escape closes the list.
// For screen readers the box is a combobox of the listbox of hits (aria-expanded, aria-activedescendant: the selected
// hit), and #search-status (aria-live) says how many hits there are.
(function () {
  const root = document.body.dataset.root || '';
  const box = document.getElementById('search'), list = document.getElementById('search-results');
  const status = document.getElementById('search-status');
  if (!box) return;
  function open(yes) {
    list.hidden = !yes; box.setAttribute('aria-expanded', yes ? 'true' : 'false');
    if (!yes) box.removeAttribute('aria-activedescendant');
  }
  let loading = null, active = -1;
  const load = () => loading || (loading = new Promise((ok, fail) => {
    const s = document.createElement('script');
    s.src = root + 'assets/search-index.js'; s.onload = ok; s.onerror = fail;
    document.head.appendChild(s);
  }));
  const esc = t => t.replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
  const KIND = {class: 'class', function: 'function', API: 'API entry'};
  const links = () => [...list.querySelectorAll('li a[href]')];
  function select(i) {
    const a = links();
    if (!a.length) { active = -1; return; }
    active = (i + a.length) % a.length;
    a.forEach((x, j) => { x.classList.toggle('active', j === active); x.setAttribute('aria-selected', j === active ? 'true' : 'false'); });
    box.setAttribute('aria-activedescendant', a[active].id);
    a[active].scrollIntoView({block: 'nearest'});
  }
  function show() {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    active = -1;
    box.removeAttribute('aria-activedescendant');
    if (!words.length || !window.SEARCH_INDEX) { open(false); if (status) status.textContent = ''; return; }
    const query = words.join(' '), hits = [];
    // rank: the query as a whole section heading; a page whose title has every word of the query (at a word's start:
    // "fashion" finds "... on Fashion-MNIST"); then words in the section heading, then words in the page title; a
    // shorter heading first among equals
    for (const e of window.SEARCH_INDEX) {
      const h = e.h.toLowerCase(), t = e.t.toLowerCase(), all = t + ' ' + h + ' ' + e.x.toLowerCase();
      if (!words.every(w => all.includes(w))) continue;
      const titleWords = t.split(/[^\p{L}\p{N}]+/u);
      const inTitle = words.every(w => titleWords.some(tw => tw.startsWith(w)));
      const score = (h === query ? 100 : 0) + (!e.h && (t.startsWith(query) || inTitle) ? 60 : 0)
                  + words.filter(w => h.includes(w)).length * 20 + words.filter(w => t.includes(w)).length * 10;
      hits.push([score, -(e.h || e.t).length, e]);
    }
    hits.sort((a, b) => b[0] - a[0] || b[1] - a[1]);
    // one hit per target; a section and an API entry of the same name on the same page (the section "Bop" and the
    // class `Bop`) both stay, each labelled with what it is
    const seen = new Set(), shown = [];
    for (const [, , e] of hits) {
      if (seen.has(e.u)) continue;
      seen.add(e.u); shown.push(e);
      if (shown.length === 12) break;
    }
    const key = e => e.t + '\u0000' + (e.h || '').toLowerCase();
    const twins = new Set(shown.map(key).filter((k, i, all) => all.indexOf(k) !== i));
    list.innerHTML = shown.map((e, i) => {
      const what = twins.has(key(e)) ? ` · ${e.k ? KIND[e.k] || 'API entry' : 'section'}` : '';
      const name = e.k ? `<code>${esc(e.h)}</code>` : esc(e.h || e.t);
      return `<li role="presentation"><a id="search-hit-${i}" role="option" aria-selected="false" href="${root}${e.u}">${name}`
           + `<small>${esc(e.h ? e.t : e.x.slice(0, 90))}${what}</small></a></li>`;
    }).join('') || '<li role="presentation"><a role="option" aria-disabled="true">No results</a></li>';
    if (status) status.textContent = shown.length ? `${shown.length} result${shown.length === 1 ? '' : 's'}` : 'No results';
    open(true);
  }
  box.addEventListener('focus', () => load().then(show));
  box.addEventListener('input', () => load().then(show));
  box.addEventListener('keydown', e => {
    if (e.key === 'Escape') { open(false); box.blur(); return; }
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (list.hidden) return;
      e.preventDefault(); select(active < 0 && e.key === 'ArrowUp' ? -1 : active + (e.key === 'ArrowDown' ? 1 : -1));
      return;
    }
    if (e.key === 'Enter') {
      const a = links();
      if (list.hidden || !a.length) return;
      e.preventDefault(); location.href = a[Math.max(active, 0)].href;
    }
  });
  document.addEventListener('click', e => { if (!e.target.closest('.search')) open(false); });
})();

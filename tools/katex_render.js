// Render a batch of LaTeX formulas with KaTeX (called once per page by tools/build_docs.py).
// stdin: JSON [[tex, display], ...]; stdout: JSON [{html} | {error}, ...] in the same order.
// Macros defined by one formula (\newcommand, \def) stay defined for the later formulas of the batch, as in a page.
const katex = require('katex');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => { input += chunk; });
process.stdin.on('end', () => {
  const macros = {};
  const out = JSON.parse(input).map(([tex, display]) => {
    const warnings = [];
    try {
      const html = katex.renderToString(tex, {
        displayMode: display, throwOnError: true, output: 'htmlAndMathml', globalGroup: true, macros,
        strict: (code, msg) => { warnings.push(`${code}: ${msg}`); return 'ignore'; },
      });
      return warnings.length ? {html, warnings} : {html};
    } catch (e) {
      return {error: String(e.message || e)};
    }
  });
  process.stdout.write(JSON.stringify(out));
});

() => {
  // Every control a finger may touch, with its box in page coordinates (see the rule in
  // test_accessibility.py). A check box or radio button is touched through its label, so the
  // label is the target. A link that is laid out inline inside text of its own parent (a link in a
  // sentence) is left out: WCAG 2.5.8's "inline" exception.
  const visible = el => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  const inSentence = a => {
    const parent = a.parentElement;
    if (!parent || getComputedStyle(a).display !== 'inline') return false;
    const text = [...parent.childNodes].filter(n => n !== a).map(n => n.textContent).join('');
    return text.replace(/[\s·,;:()]/g, '').length > 0;
  };
  const out = [];
  const seen = new Set();
  const controls = 'main a[href], header a[href], button, input, select, textarea, summary';
  for (const el of document.querySelectorAll(controls)) {
    const checkable = el.type === 'checkbox' || el.type === 'radio';
    if (el.type === 'hidden' || (!checkable && !visible(el))) continue;
    if (el.tagName === 'A' && inSentence(el)) continue;
    const target = checkable ? el.closest('label') || el : el;
    if (seen.has(target) || !visible(target)) continue;
    seen.add(target);
    const r = target.getBoundingClientRect();
    const said = target.getAttribute('aria-label') || target.textContent || target.getAttribute('name') || '';
    const name = `${target.tagName.toLowerCase()} "${said.trim().replace(/\s+/g, ' ').slice(0, 40)}"`;
    out.push({name, x: r.left, y: r.top + window.scrollY, w: r.width, h: r.height});
  }
  return out;
}

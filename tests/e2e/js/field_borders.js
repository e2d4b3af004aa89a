() => {
  // WCAG 1.4.11 Non-text Contrast: each field's border against the background around the field.
  const rgb = c => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const around = el => {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const out = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'checkbox', 'radio', 'submit', 'button', 'reset', 'image'].includes(el.type)) continue;
    const s = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || s.visibility === 'hidden') continue;
    const border = rgb(s.borderTopColor);
    const back = around(el);
    const ratio = (Math.max(lum(border), lum(back)) + 0.05) / (Math.min(lum(border), lum(back)) + 0.05);
    if (s.borderTopStyle === 'none' || parseFloat(s.borderTopWidth) < 1 || ratio < 3) {
      out.push(`field border (WCAG 1.4.11): ${el.tagName.toLowerCase()}[name=${el.name}] ` +
               `${s.borderTopWidth} ${s.borderTopColor} on rgb(${back.r}, ${back.g}, ${back.b}): ${ratio.toFixed(2)}:1`);
    }
  }
  return out;
}

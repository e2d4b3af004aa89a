// The chair board updates itself in place from its JSON every 30 seconds: each chair's status lines
// and the triage list are rewritten; forms (check-in, seating) and whatever is typed in them are never
// touched, and focus stays where it was. When patients arrive, move or leave (the forms would change),
// the page says so and offers a reload instead of reloading itself. Plain JS; the page works without it.
(function () {
  const triageBox = document.querySelector("[data-board-url]");
  if (!triageBox) return;
  const url = triageBox.dataset.boardUrl;
  const list = document.getElementById("triage");
  const changed = document.getElementById("board-changed");
  const updated = document.getElementById("board-updated");
  const MARKS = { stop: "■ stop", pause: "▲ pause", watch: "● watch", normal: "✓ normal" };
  const formGroup = (state) => (state === "booked" || state === "checked in" ? state : "other");

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One status line, as the page's `line` macro writes it.
  function line(l) {
    const p = el("p", l.cls);
    if (l.badge) { p.append(el("span", "badge", l.badge), " "); }
    p.append(l.text);
    if (l.level) { p.append(" ", el("span", "level level-" + l.level, MARKS[l.level] || l.level)); }
    if (l.after) { p.append(" ", el("span", "muted", l.after)); }
    return p;
  }

  function renderTriage(items, clinical) {
    const focused = list.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    const fresh = items.map((t) => {
      const li = el("li", "need need-" + t.level);
      const a = el("a", null, t.patient);
      a.href = t.session_id && clinical ? "/sessions/" + t.session_id : "/patients/" + t.patient_id;
      li.append(el("span", "level level-" + t.level, t.mark), " ", el("strong", null, t.chair), " · ", a, " · " + t.text);
      return li;
    });
    if (!fresh.length) fresh.push(el("li", "muted", "Nothing open."));
    list.replaceChildren(...fresh);
    if (focused) { const again = list.querySelector('a[href="' + focused + '"]'); if (again) again.focus(); }
  }

  function apply(board) {
    const slots = board.chairs.map((c) => c.now).filter(Boolean);
    const shown = new Set([...document.querySelectorAll("[data-live]")].map((n) => n.dataset.live));
    let different = slots.length !== shown.size;
    slots.forEach((s) => {
      const live = document.querySelector('[data-live="' + s.appointment_id + '"]');
      if (!live) { different = true; return; }
      if (formGroup(live.dataset.state) !== formGroup(s.state)) different = true;
      live.replaceChildren(...s.lines.map(line));
      live.dataset.state = s.state;
      const card = live.closest("section.chair");
      if (card) {
        [...card.classList].filter((c) => c.startsWith("urgent-") || c.startsWith("state-")).forEach((c) => card.classList.remove(c));
        card.classList.add("state-" + s.state.replace(/ /g, "-"));
        if (s.needs.length) card.classList.add("urgent-" + s.needs[0].level);
      }
    });
    renderTriage(board.triage, board.clinical);
    changed.hidden = !different;
    updated.textContent = "as of " + new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then(apply)
      .catch(() => { updated.textContent = "could not update; the figures shown may be old"; });
  }
  setInterval(refresh, 30000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();

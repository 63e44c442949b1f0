// finesift review: keyboard-first stepping through a curated set.
// Dataset text is only ever put into the page with textContent (never innerHTML): a row holding
// <script> or onerror= shows as the characters it is.
"use strict";

const TOKEN = document.querySelector('meta[name="finesift-token"]').content;
const $ = (id) => document.getElementById(id);
const S = {
  info: null, queue: "kept", index: 0, total: 0, unit: null, status: [], counts: null,
  editing: false, recheck: null, choice: [], busy: false,
};

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-Finesift-Token"] = TOKEN;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.detail ? String(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : res.statusText);
  return data;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function toast(msg) {
  const t = $("toast");
  t.textContent = msg;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 2500);
}

function segments(parent, segs) {
  for (const [text, changed] of segs) parent.append(el("span", changed ? "diff" : null, text));
}

// --- header -----------------------------------------------------------------------------------

function showCounts() {
  const c = S.counts;
  if (!c) return;
  $("c-pending").textContent = `pending ${c.pending}`;
  $("c-accepted").textContent = `accepted ${c.accepted}`;
  $("c-rejected").textContent = `rejected ${c.rejected}`;
  $("c-edited").textContent = `edited ${c.edited}`;
  $("progress-text").textContent = `${c.units_done} / ${c.units} done`;
  $("bar").style.width = c.units ? `${(100 * c.units_done) / c.units}%` : "0%";
  const sc = c.self_check;
  $("selfcheck").textContent = sc && sc.rechecked ? `self-check ${sc.agreed}/${sc.rechecked} agreed (${Math.round(100 * sc.rate)}%)` : "";
}

function fillQueues() {
  const sel = $("queue");
  sel.replaceChildren();
  const add = (value, label) => { const o = el("option", null, label); o.value = value; sel.append(o); };
  add("kept", "curated set (kept)");
  add("rejected", "rejected rows");
  add("all", "all rows");
  for (const [code, n] of Object.entries(S.info.codes)) add(`code:${code}`, `${code} (${n})`);
  sel.value = S.queue;
}

// --- cards ------------------------------------------------------------------------------------

function chips(row) {
  const box = el("div", "chips");
  box.append(el("span", `chip tool-${row.tool}`, `tool: ${row.tool}`));
  for (const f of row.flags) box.append(el("span", "chip flag", f));
  for (const r of row.reasons) if (!row.flags.includes(r)) box.append(el("span", "chip reason", r));
  if (row.quality !== null && row.quality !== undefined) box.append(el("span", "chip", `quality ${row.quality}`));
  if (row.cluster !== null && row.cluster !== undefined) box.append(el("span", "chip", `cluster ${row.cluster}`));
  return box;
}

function textBlock(label, text, cls, segs) {
  const box = el("div", `field ${cls}`);
  box.append(el("div", "label", label));
  const pre = el("pre", "text");
  pre.dataset.field = cls;
  if (segs) segments(pre, segs); else pre.textContent = text;
  box.append(pre);
  return box;
}

function shown(row, field) {
  const st = row.state;
  if (st && st[field] !== null && st[field] !== undefined) return st[field];
  return row[field];
}

function statusBadge(row) {
  const st = row.state;
  return el("span", `badge ${st ? st.status : "pending"}`, st ? `your decision: ${st.status}` : "pending");
}

function renderRow(unit) {
  const row = unit.members[0];
  const card = el("article", "card row-card");
  const head = el("div", "head");
  head.append(el("span", "where", unit.recheck ? `row ${row.row}` : `row ${row.row} \u00b7 ${S.index + 1} of ${S.total}`));
  head.append(statusBadge(unit.recheck ? { state: null } : row));
  card.append(head, chips(row));
  if (row.system) card.append(textBlock("system", row.system, "system"));
  card.append(textBlock("prompt", shown(row, "prompt"), "prompt"));
  card.append(textBlock("answer", shown(row, "output"), "output"));
  if (row.scores.length) {
    const t = el("table", "scores");
    for (const s of row.scores) {
      const tr = el("tr", s.flagged ? "flagged" : null);
      tr.append(el("td", null, s.column), el("td", null, Array.isArray(s.value) ? s.value.join(", ") : s.value));
      t.append(tr);
    }
    const d = el("details", "scores-box");
    d.open = row.flags.length > 0 || row.reasons.length > 0; // all scores at a glance only when the tool found something
    d.append(el("summary", null, "scores"), t);
    card.append(d);
  }
  for (const p of row.partners) {
    const box = el("div", "partner");
    box.append(el("div", "label", `${p.column} \u2192 row ${p.row} (tool: ${p.tool}); differences highlighted`));
    const grid = el("div", "side-by-side");
    const mine = el("div", "col"), theirs = el("div", "col");
    mine.append(el("div", "label", "this row"), textBlock("prompt", null, "p", p.self_prompt), textBlock("answer", null, "o", p.self_output));
    theirs.append(el("div", "label", `row ${p.row}`), textBlock("prompt", null, "p", p.prompt), textBlock("answer", null, "o", p.output));
    grid.append(mine, theirs);
    box.append(grid);
    card.append(box);
  }
  return card;
}

function renderGroup(unit) {
  const card = el("article", "card group-card");
  const head = el("div", "head");
  head.append(el("span", "where", `group of ${unit.members.length + unit.hidden_members} rows \u00b7 ${S.index + 1} of ${S.total}`));
  head.append(el("span", "hint", "1\u20139 toggle keep/drop \u00b7 a saves \u00b7 r drops all"));
  card.append(head);
  if (unit.hidden_members) card.append(el("p", "hint", `${unit.hidden_members} more members not shown`));
  const grid = el("div", "members");
  unit.members.forEach((m, i) => {
    const col = el("div", `member ${S.choice[i] ? "keep" : "drop"}`);
    col.dataset.row = m.row;
    const btn = el("button", "choice");
    btn.append(el("kbd", null, String(i + 1)), document.createTextNode(S.choice[i] ? " keep" : " drop"));
    btn.addEventListener("click", () => toggle(i));
    const top = el("div", "head");
    top.append(btn, el("span", "where", `row ${m.row}`), statusBadge(m));
    col.append(top, chips(m));
    col.append(textBlock("prompt", null, "prompt", m.diff_prompt || [[shown(m, "prompt"), false]]));
    col.append(textBlock("answer", null, "output", m.diff_output || [[shown(m, "output"), false]]));
    grid.append(col);
  });
  card.append(grid);
  return card;
}

function render() {
  const main = $("card");
  main.replaceChildren();
  S.editing = false;
  editButtons(false);
  const unit = S.recheck || S.unit;
  if (!unit) {
    const done = el("article", "card done");
    done.append(el("h2", null, "Every item of this queue is decided."));
    done.append(el("p", null, "Export the validated set with: finesift review DIR --export OUT"));
    main.append(done);
    return;
  }
  main.append(unit.kind === "group" ? renderGroup(unit) : renderRow(unit));
  $("b-edit").disabled = unit.kind === "group";
}

// --- navigation -------------------------------------------------------------------------------

async function refreshQueue() {
  const q = await api("GET", `/api/queue?q=${encodeURIComponent(S.queue)}`);
  S.status = q.status;
  S.counts = q.counts;
  S.total = q.status.length;
  showCounts();
  return q;
}

async function go(i, saveCursor = true) {
  if (i >= S.total) {
    const pending = S.status.indexOf("pending");
    if (pending < 0) { S.index = S.total; S.unit = null; render(); return; }
    i = pending;
  }
  i = Math.max(0, i);
  const unit = await api("GET", `/api/unit?q=${encodeURIComponent(S.queue)}&i=${i}`);
  S.index = i;
  S.unit = unit;
  S.choice = unit.kind === "group" ? unit.members.map((m) => (m.state ? m.state.status !== "rejected" : m.tool === "kept")) : [];
  render();
  if (saveCursor) await api("POST", "/api/cursor", { queue: S.queue, index: i });
}

async function after(res) {
  S.counts = res.counts;
  S.status = res.status;
  showCounts();
  if (res.recheck) {
    S.recheck = res.recheck;
    S.unit = null;
    S.index += 1; // where stepping goes on after the repeated row
    render();
    return;
  }
  await go(S.index + 1, false);
}

async function decide(decision, texts) {
  if (S.recheck) {
    const rc = S.recheck;
    const res = await api("POST", "/api/recheck", { id: rc.recheck, decision, queue: S.queue, cursor: S.index });
    if (decision === "edit") {
      // an edit made on a repeated row is new text: it is kept as a decision of its own
      await api("POST", "/api/decide", { queue: S.queue, rows: [{ row: rc.members[0].row, decision, ...texts }] });
    }
    S.recheck = null;
    S.counts = res.counts;
    S.status = res.status;
    showCounts();
    await go(S.index, false);
    return;
  }
  const unit = S.unit;
  if (!unit) return;
  let rows;
  if (unit.kind === "group") {
    if (decision === "reject") S.choice = S.choice.map(() => false);
    rows = unit.members.map((m, i) => ({ row: m.row, decision: S.choice[i] ? "accept" : "reject" }));
  } else {
    rows = [{ row: unit.members[0].row, decision, ...(texts || {}) }];
  }
  const res = await api("POST", "/api/decide", { queue: S.queue, rows, cursor: S.index + 1 });
  await after(res);
}

function toggle(i) {
  if (!S.unit || S.unit.kind !== "group" || i >= S.choice.length) return;
  S.choice[i] = !S.choice[i];
  render();
}

// --- edit in place ----------------------------------------------------------------------------

function editButtons(on) {
  for (const id of ["b-save", "b-cancel"]) $(id).hidden = !on;
  for (const id of ["b-accept", "b-reject", "b-edit", "b-skip"]) $(id).hidden = on;
}

function startEdit() {
  const unit = S.recheck || S.unit;
  if (!unit || unit.kind !== "row" || S.editing) return;
  const row = unit.members[0];
  let first = null;
  for (const field of ["prompt", "output"]) {
    if (!row[`${field}_editable`]) continue;
    const pre = document.querySelector(`#card pre[data-field="${field}"]`);
    if (!pre) continue;
    const ta = el("textarea", "edit");
    ta.dataset.field = field;
    ta.value = unit.recheck ? row[field] : shown(row, field);
    ta.rows = Math.min(20, Math.max(3, ta.value.split("\n").length + 1));
    pre.replaceWith(ta);
    first = first || ta;
  }
  if (!first) { toast("this row cannot be edited here"); return; }
  S.editing = true;
  editButtons(true);
  first.focus();
}

async function saveEdit() {
  const texts = {};
  for (const ta of document.querySelectorAll("#card textarea.edit")) texts[ta.dataset.field] = ta.value;
  await decide("edit", texts);
}

// --- undo, bulk -------------------------------------------------------------------------------

async function undo() {
  const res = await api("POST", "/api/undo", { queue: S.queue });
  S.recheck = null;
  S.counts = res.counts;
  S.status = res.status;
  showCounts();
  if (!res.undone) { toast("nothing to undo"); return; }
  toast(res.undone.kind === "bulk" ? `undone: ${res.undone.label}` : `undone: ${res.undone.rows.length} row(s)`);
  await go(res.undone.index !== null && res.undone.index !== undefined ? res.undone.index : S.index);
}

function bulkFilter() {
  const num = (id) => ($(id).value === "" ? null : Number($(id).value));
  return {
    code: $("f-code").value || null, column: $("f-column").value || null,
    min: num("f-min"), max: num("f-max"), cluster: $("f-cluster").value === "" ? null : Number($("f-cluster").value),
  };
}

async function bulkCount() {
  const f = bulkFilter();
  const p = new URLSearchParams({ q: S.queue });
  for (const [k, v] of Object.entries(f)) if (v !== null && !Number.isNaN(v)) p.set(k, String(v));
  try {
    $("f-count").textContent = String((await api("GET", `/api/bulk?${p}`)).rows);
  } catch (e) { $("f-count").textContent = "0"; }
}

function fillBulk() {
  const opt = (sel, value, label) => { const o = el("option", null, label); o.value = value; sel.append(o); };
  const code = $("f-code"), col = $("f-column"), cl = $("f-cluster");
  opt(code, "", "any");
  for (const c of Object.keys(S.info.codes)) opt(code, c, c);
  opt(col, "", "any");
  for (const c of S.info.score_columns) opt(col, c, c);
  opt(cl, "", "any");
  for (const c of S.info.clusters) opt(cl, String(c), String(c));
  for (const id of ["f-code", "f-column", "f-min", "f-max", "f-cluster"]) $(id).addEventListener("input", bulkCount);
  $("f-accept").addEventListener("click", () => run(() => runBulk("accept")));
  $("f-reject").addEventListener("click", () => run(() => runBulk("reject")));
  $("f-close").addEventListener("click", closeBulk);
}

function openBulk() { $("bulk").hidden = false; bulkCount(); $("f-code").focus(); }
function closeBulk() { $("bulk").hidden = true; document.activeElement && document.activeElement.blur(); }

async function runBulk(decision) {
  const res = await api("POST", "/api/bulk", { queue: S.queue, decision, ...bulkFilter() });
  closeBulk();
  toast(`${res.label} (u undoes it)`);
  S.counts = res.counts;
  S.status = res.status;
  showCounts();
  await go(S.index, false);
}

// --- keys -------------------------------------------------------------------------------------

const ACTIONS = {
  accept: () => decide("accept"), reject: () => decide("reject"), edit: () => startEdit(),
  save: () => saveEdit(), cancel: () => render(), skip: () => go(S.index + 1),
  undo: () => undo(), prev: () => go(S.index - 1), next: () => go(S.index + 1),
  bulk: () => openBulk(), help: () => { $("help").hidden = !$("help").hidden; },
};

async function run(action) {
  if (S.busy) return;
  S.busy = true;
  try { await (typeof action === "function" ? action() : ACTIONS[action]()); } catch (e) { toast(`error: ${e.message}`); } finally { S.busy = false; }
}

function onKey(ev) {
  if (!$("bulk").hidden) {
    if (ev.key === "Escape") { ev.preventDefault(); closeBulk(); }
    return;
  }
  if (S.editing) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); run("save"); }
    else if (ev.key === "Escape") { ev.preventDefault(); run("cancel"); }
    return;
  }
  const t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const unit = S.recheck || S.unit;
  const map = {
    a: "accept", r: "reject", x: "reject", e: "edit", s: "skip", " ": "skip", u: "undo",
    ArrowRight: "next", j: "next", ArrowLeft: "prev", k: "prev", b: "bulk", "?": "help",
  };
  if (unit && unit.kind === "group" && /^[1-9]$/.test(ev.key)) { ev.preventDefault(); toggle(Number(ev.key) - 1); return; }
  if (unit && unit.kind === "group" && ev.key === "Enter") { ev.preventDefault(); run("accept"); return; }
  const name = map[ev.key];
  if (!name) return;
  if (!unit && ["accept", "reject", "edit"].includes(name)) return;
  ev.preventDefault();
  run(name);
}

async function start() {
  S.info = await api("GET", "/api/info");
  $("folder").textContent = S.info.folder;
  const m = /^#queue=(.+)$/.exec(location.hash);
  S.queue = m ? decodeURIComponent(m[1]) : S.info.queue;
  fillQueues();
  if ($("queue").value !== S.queue) S.queue = S.info.queue;
  $("queue").value = S.queue;
  $("queue").addEventListener("change", () => run(async () => {
    S.queue = $("queue").value;
    location.hash = `queue=${encodeURIComponent(S.queue)}`;
    S.recheck = null;
    const q = await refreshQueue();
    await go(q.cursor, false);
    $("queue").blur();
  }));
  fillBulk();
  for (const b of document.querySelectorAll("#actions button")) b.addEventListener("click", () => { b.blur(); run(b.dataset.act); });
  document.addEventListener("keydown", onKey);
  const q = await refreshQueue();
  await go(q.cursor, false);
  document.body.dataset.ready = "1";
}

start().catch((e) => toast(`error: ${e.message}`));

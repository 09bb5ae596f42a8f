// mco web: the live parts of the console's pages.
//
// Everything a node sends is put into the page with textContent (or as SVG text
// nodes), never as HTML, so a fact or a reply holding markup shows as text. The page
// works from the REST API (/api/v1) with the session cookie and the CSRF token of the
// page's <meta name="csrf-token">; live results come as server-sent events.

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const csrf = () => $('meta[name="csrf-token"]')?.content || '';

const STATUS = {0: 'OK', 1: 'Request Aborted', 2: 'Unknown Action', 3: 'Missing Request Data',
  4: 'Invalid Request Data', 5: 'Unknown Request Status'};

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? (typeof body.detail === 'string' ? body.detail
      : body.detail.map((d) => `${(d.loc || []).slice(1).join('.')}: ${d.msg}`).join('; '))
      : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, url, body) {
  const init = {method, headers: {'Accept': 'application/json'}, credentials: 'same-origin'};
  if (method !== 'GET') init.headers['X-CSRF-Token'] = csrf();
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new ApiError(401, {detail: 'signed out'});
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = {detail: text}; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function show(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function seconds(s) {
  if (s === null || s === undefined) return '';
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

function nodeLink(identity) {
  return el('a', {href: `/nodes/${encodeURIComponent(identity)}`, text: identity});
}

function setProblem(node, message) {
  if (!node) return;
  node.textContent = message || '';
  node.hidden = !message;
}

// --- charts --------------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// rows: [[label, count], ...]
function barChart(title, rows, limit = 40) {
  rows = rows.slice().sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
  if (rows.length > limit) {
    const rest = rows.slice(limit - 1);
    rows = rows.slice(0, limit - 1).concat([[`(${rest.length} others)`,
      rest.reduce((n, r) => n + r[1], 0)]]);
  }
  const top = Math.max(1, ...rows.map((r) => r[1]));
  const height = rows.length * 22 + 4;
  const chart = svg('svg', {viewBox: `0 0 420 ${height}`, width: 420, height, role: 'img'});
  rows.forEach(([label, count], i) => {
    const g = svg('g', {transform: `translate(0,${i * 22 + 2})`});
    const text = String(label);
    const t = svg('text', {x: 0, y: 14, class: 'label'},
      text.length > 22 ? text.slice(0, 21) + '…' : text);
    t.append(svg('title', {}, text));
    const width = (count / top) * 190;
    g.append(t, svg('rect', {x: 170, y: 3, height: 14, width: width.toFixed(1), class: 'bar'}),
      svg('text', {x: (175 + width).toFixed(1), y: 14, class: 'count'}, String(count)));
    chart.append(g);
  });
  return el('figure', {class: 'chart'}, el('figcaption', {text: title}), chart);
}

function renderSummaries(target, report) {
  if (!target || !report) return;
  const figures = [];
  for (const item of report.results || []) {
    const title = `${item.function} of ${item.output}`;
    if (item.type === 'collection') {
      figures.push(barChart(title, Object.entries(item.value || {})));
    } else if (item.type === 'chart') {
      figures.push(barChart(title, (item.value || []).map((r) => [r[0], r[1]])));
    } else {
      figures.push(el('figure', {class: 'chart'}, el('figcaption', {text: title}),
        el('p', {class: 'mono summary-value', text: show(item.value)})));
    }
  }
  for (const failure of report.failures || []) {
    figures.push(el('figure', {class: 'chart'},
      el('figcaption', {text: `${failure.function} of ${failure.output}`}),
      el('p', {class: 'problem', text: `could not compute: ${failure.reason}`})));
  }
  target.replaceChildren(...figures);
}

// --- the filter bar --------------------------------------------------------------------

function caretText(text, position, message) {
  // The bar's text with a caret under the problem, then mco's own message.
  const head = position === null || position === undefined ? ''
    : `${text}\n${' '.repeat(Math.max(0, position))}^\n`;
  return head + message;
}

function filterBar(root = document) {
  const input = $('#filter', root);
  if (!input) return null;
  const error = $('#filter-error', root);
  const described = $('#filter-description', root);
  let timer = null;
  let latest = 0;
  const check = async () => {
    const ticket = ++latest;
    try {
      const result = await api('POST', '/api/v1/filters/check', {filter: input.value});
      if (ticket !== latest) return result;
      if (result.valid) {
        setProblem(error, '');
        input.removeAttribute('aria-invalid');
        described.replaceChildren(...result.description.map((line) => el('li', {text: line})));
      } else {
        input.setAttribute('aria-invalid', 'true');
        error.textContent = caretText(input.value, result.position,
          result.message || result.detail);
        error.hidden = false;
        described.replaceChildren();
      }
      return result;
    } catch (e) {
      setProblem(error, e.message);
      return {valid: false};
    }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  if (input.value) check();
  return {input, check};
}

function showFilterProblem(e) {
  // A 422 from a job about the filter: show it under the bar, caret and all.
  const error = $('#filter-error');
  const input = $('#filter');
  if (!error || !input || e.body.position === undefined) return false;
  error.textContent = caretText(input.value, e.body.position, e.body.message || e.message);
  error.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  return true;
}

function numberOrNull(value) {
  if (value === undefined || value === null || String(value).trim() === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function textOrNull(value) {
  return value === undefined || value === null || String(value).trim() === ''
    ? null : String(value).trim();
}

// Follow a job's events; handlers by event name. Resolves when the job is done.
function follow(jobId, handlers) {
  return new Promise((resolve) => {
    const source = new EventSource(`/api/v1/jobs/${jobId}/events`);
    const dispatch = (name) => (message) => {
      let data = null;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (handlers[name]) handlers[name](data);
    };
    for (const name of ['discovering', 'nodes', 'discovered', 'sending', 'request',
      'results', 'summaries', 'warning', 'error', 'done', 'agents']) {
      source.addEventListener(name, dispatch(name));
    }
    source.addEventListener('end', () => { source.close(); resolve(true); });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        if (handlers.lost) handlers.lost();
        resolve(false);
      }
    };
  });
}

// --- discovery page ----------------------------------------------------------------------

function discoverPage() {
  const form = $('#discover-form');
  const bar = filterBar(form);
  const section = $('#discovery');
  const list = $('#nodes');
  const count = $('#node-count');
  const state = $('#discovery-state');
  const problem = $('#discovery-error');
  const button = $('#discover-button');
  const links = () => {
    const q = encodeURIComponent(bar.input.value);
    $('#run-on-these').href = `/agents?filter=${q}`;
    $('#fleet-these').href = `/fleet?filter=${q}`;
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    section.hidden = false;
    list.replaceChildren();
    count.textContent = '0';
    setProblem(problem, '');
    state.textContent = 'discovering…';
    delete state.dataset.done;
    button.disabled = true;
    links();
    const started = performance.now();
    const seen = new Set();
    const add = (identity) => {
      if (seen.has(identity)) return;
      seen.add(identity);
      list.append(el('li', {class: 'mono', 'data-node': identity}, nodeLink(identity)));
      count.textContent = String(seen.size);
    };
    try {
      const job = await api('POST', '/api/v1/discover/jobs', {
        filter: bar.input.value, collective: textOrNull(data.get('collective')),
        discovery_timeout: numberOrNull(data.get('discovery_timeout'))});
      await follow(job.id, {
        nodes: (batch) => batch.forEach((n) => add(n.identity)),
        discovered: (d) => {
          d.nodes.forEach(add);
          state.textContent = `in ${seconds(d.seconds)} using the ${d.method} method` +
            (d.trouble ? ` (${d.trouble})` : '');
          state.dataset.done = 'yes';
        },
        error: (e) => setProblem(problem, e.message),
        lost: () => setProblem(problem, 'lost the connection to the console'),
      });
      if (!seen.size && !problem.textContent) state.textContent += ': no node matched';
    } catch (e) {
      if (!showFilterProblem(e)) setProblem(problem, e.message);
      state.textContent = '';
    } finally {
      state.dataset.done = 'yes';
      button.disabled = false;
    }
  });

  // Saved filters.
  const saved = $('#saved-filters');
  const message = $('#save-message');
  saved.addEventListener('change', () => {
    const option = saved.selectedOptions[0];
    if (!option || !option.value) return;
    bar.input.value = option.dataset.filter;
    if (option.dataset.collective) $('#collective').value = option.dataset.collective;
    $('#save-name').value = option.value;
    bar.check();
  });
  $('#save-filter').addEventListener('click', async () => {
    const name = $('#save-name').value.trim();
    if (!name) { message.textContent = 'give the filter a name first'; return; }
    try {
      await api('POST', '/api/v1/filters/saved', {name, filter: bar.input.value,
        collective: textOrNull($('#collective').value)});
      let option = $$('option', saved).find((o) => o.value === name);
      if (!option) {
        option = el('option', {value: name, text: name});
        saved.append(option);
      }
      option.dataset.filter = bar.input.value;
      option.dataset.collective = $('#collective').value;
      saved.value = name;
      message.textContent = `saved as “${name}”`;
    } catch (e) {
      message.textContent = e.message;
    }
  });
  $('#delete-filter').addEventListener('click', async () => {
    const name = saved.value;
    if (!name) return;
    try {
      await api('DELETE', `/api/v1/filters/saved/${encodeURIComponent(name)}`);
      saved.selectedOptions[0].remove();
      saved.value = '';
      message.textContent = `deleted “${name}”`;
    } catch (e) {
      message.textContent = e.message;
    }
  });
  if (bar.input.value) form.requestSubmit();
}

// --- fleet page -------------------------------------------------------------------------

function fleetPage() {
  const form = $('#fleet-form');
  const bar = filterBar(form);
  const progress = $('#fleet-progress');
  const problem = $('#fleet-error');
  const watch = async (jobId) => {
    let answered = 0;
    let expected = null;
    await follow(jobId, {
      nodes: () => {},
      discovered: (d) => { expected = d.count; progress.textContent = `${d.count} node(s) found`; },
      results: (batch) => {
        answered += batch.length;
        progress.textContent = `${answered}${expected !== null ? ' / ' + expected : ''} inventories`;
      },
      agents: () => { progress.textContent = 'collecting agent versions…'; },
      error: (e) => setProblem(problem, e.message),
    });
    if (!problem.textContent) location.href = `/fleet?job=${jobId}`;
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setProblem(problem, '');
    progress.textContent = 'discovering…';
    try {
      const job = await api('POST', '/api/v1/fleet/jobs', {filter: bar.input.value,
        collective: textOrNull(new FormData(form).get('collective'))});
      await watch(job.id);
    } catch (e) {
      if (!showFilterProblem(e)) setProblem(problem, e.message);
      progress.textContent = '';
    }
  });
  const running = $('#fleet-running');
  if (running) watch(running.dataset.job);
}

// --- node page ------------------------------------------------------------------------------

function nodePage() {
  const search = $('#fact-search');
  if (!search) return;
  const matches = $('#fact-matches');
  search.addEventListener('input', () => {
    const needle = search.value.trim().toLowerCase();
    let shown = 0;
    for (const leaf of $$('#facts li.leaf')) {
      const hit = !needle || leaf.textContent.toLowerCase().includes(needle);
      leaf.hidden = !hit;
      if (hit) shown += 1;
    }
    // A branch is shown when anything under it is (or its own name matches).
    for (const branch of $$('#facts li.branch').reverse()) {
      const own = $('summary', branch).textContent.toLowerCase().includes(needle);
      const any = own || $$('li.leaf', branch).some((l) => !l.hidden);
      branch.hidden = needle ? !any : false;
      if (own && needle) $$('li', branch).forEach((l) => { l.hidden = false; });
      if (needle && any) $('details', branch).open = true;
    }
    matches.textContent = needle ? `${shown} matching fact(s)` : '';
  });
}

// --- action form ---------------------------------------------------------------------------

function actionPage() {
  const form = $('#action-form');
  const bar = filterBar(form);
  const formError = $('#form-error');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    $$('.field-error', form).forEach((p) => setProblem(p, ''));
    setProblem(formError, '');
    const data = new FormData(form);
    const args = {};
    for (const field of $$('.field', form)) {
      const name = field.dataset.input;
      const value = data.get(name);
      if (value !== null && String(value) !== '') args[name] = String(value);
    }
    const body = {
      agent: form.dataset.agent, action: form.dataset.action, arguments: args,
      filter: bar.input.value, collective: textOrNull(data.get('collective')),
      limit: textOrNull(data.get('limit')), batch: textOrNull(data.get('batch')),
      limit_seed: numberOrNull(data.get('limit_seed')),
      batch_sleep: numberOrNull(data.get('batch_sleep')),
      timeout: numberOrNull(data.get('timeout')),
      discovery_timeout: numberOrNull(data.get('discovery_timeout')),
    };
    $('#run-button').disabled = true;
    try {
      const job = await api('POST', '/api/v1/rpc/jobs', body);
      location.href = job.page;
    } catch (e) {
      $('#run-button').disabled = false;
      const input = e.body && e.body.input;
      const target = input && $(`.field-error[data-for="${CSS.escape(input)}"]`, form);
      if (target) {
        setProblem(target, e.message);
        $(`[name="${CSS.escape(input)}"]`, form)?.focus();
      } else if (!showFilterProblem(e)) {
        setProblem(formError, e.message);
      }
    }
  });
}

// --- a running request ------------------------------------------------------------------------

function runPage() {
  const run = $('#run');
  const table = $('#results');
  const tbody = $('tbody', table);
  const outputs = $$('th[data-output]', table).map((th) => th.dataset.output);
  const progress = $('#progress');
  const text = $('#progress-text');
  const problem = $('#run-error');
  const warning = $('#run-warning');
  const started = performance.now();
  let expected = null;
  let answered = 0;
  let failed = 0;

  const row = (r) => {
    const ok = r.statuscode === 0;
    const status = ok ? STATUS[0] : `${STATUS[r.statuscode] || 'status ' + r.statuscode}: ${r.statusmsg}`;
    const cells = [el('td', {class: 'mono'}, nodeLink(r.sender)), el('td', {text: status})];
    for (const name of outputs) {
      const value = name === '*' ? r.data
        : (r.data && typeof r.data === 'object' ? r.data[name] : undefined);
      cells.push(el('td', {class: 'mono', text: show(value)}));
    }
    return el('tr', {class: ok ? '' : 'row-failed', 'data-node': r.sender,
      'data-status': String(r.statuscode)}, ...cells);
  };
  const update = () => {
    if (expected !== null) {
      progress.max = Math.max(1, expected);
      progress.value = answered;
    }
    const elapsed = (performance.now() - started) / 1000;
    text.textContent = `${answered}${expected !== null ? ' / ' + expected : ''} replies` +
      (failed ? `, ${failed} failed` : '') + ` · ${seconds(elapsed)}`;
  };
  follow(run.dataset.job, {
    discovering: (d) => { text.textContent = `discovering with ${d.method}…`; },
    discovered: (d) => { text.textContent = `${d.count} node(s) found in ${seconds(d.seconds)}`; },
    sending: (d) => { expected = d.expected; update(); },
    request: (d) => { $('#request-id').textContent = d.requestid; },
    results: (batch) => {
      const fragment = document.createDocumentFragment();
      for (const r of batch) {
        fragment.append(row(r));
        answered += 1;
        if (r.statuscode !== 0) failed += 1;
      }
      tbody.append(fragment);
      update();
    },
    summaries: (report) => renderSummaries($('#summaries'), report),
    warning: (w) => setProblem(warning, w.message),
    error: (e) => setProblem(problem, e.message),
    done: (d) => {
      const stats = d.stats || {};
      if (expected === null) expected = stats.discovered || 0;
      update();
      progress.value = progress.max;
      const silent = d.noresponsefrom || [];
      if (silent.length) {
        $('#silent').hidden = false;
        $('#silent-count').textContent = String(silent.length);
        $('#silent-nodes').replaceChildren(...silent.map((n) => el('li', {class: 'mono'}, nodeLink(n))));
      }
      const parts = [`Finished processing ${stats.responses ?? answered} / ${stats.discovered ?? expected} hosts in ${seconds(stats.totaltime)}`];
      if (stats.okcount !== undefined) parts.push(`${stats.okcount} ok, ${stats.failcount} failed`);
      if (d.dropped) parts.push(`${d.dropped} further replies not kept`);
      if (d.message) parts.push(d.message);
      $('#run-stats').textContent = parts.join(' · ');
      if (d.gap) setProblem(warning, d.gap);
      if (stats.requestid) $('#request-id').textContent = stats.requestid;
      run.dataset.done = 'yes';
      text.textContent = text.textContent.replace(/ · .*$/, '') + ' · done';
    },
    lost: () => { location.href = `/history/${run.dataset.job}`; },
  });
  // Click a header to sort by it.
  $$('th', table).forEach((th, index) => th.addEventListener('click', () => {
    const asc = th.dataset.dir !== 'asc';
    $$('th', table).forEach((h) => delete h.dataset.dir);
    th.dataset.dir = asc ? 'asc' : 'desc';
    const rows = $$('tr', tbody);
    rows.sort((a, b) => {
      const x = a.children[index].textContent;
      const y = b.children[index].textContent;
      const nx = Number(x); const ny = Number(y);
      const cmp = x !== '' && y !== '' && !Number.isNaN(nx) && !Number.isNaN(ny)
        ? nx - ny : x.localeCompare(y);
      return asc ? cmp : -cmp;
    });
    tbody.append(...rows);
  }));
}

// --- history -------------------------------------------------------------------------------

function historyItemPage() {
  const button = $('#rerun');
  if (!button) return;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const job = await api('POST', `/api/v1/history/${button.dataset.entry}/rerun`);
      location.href = job.page;
    } catch (e) {
      button.disabled = false;
      setProblem($('#rerun-error'), e.message);
    }
  });
}

// --- every page ------------------------------------------------------------------------------

function brokerStatus() {
  const status = $('#broker-status');
  if (!status) return;
  setInterval(async () => {
    try {
      const s = await api('GET', '/api/v1/status');
      status.dataset.connected = s.connected ? 'yes' : 'no';
      status.title = s.last_error || s.broker;
      status.lastChild.textContent = s.connected ? ` ${s.broker}` : ' middleware unreachable';
    } catch (e) { /* the next poll will tell */ }
  }, 15000);
}

const pages = {
  discover: discoverPage, fleet: fleetPage, node: nodePage, action: actionPage,
  run: runPage, 'history-item': historyItemPage,
};
brokerStatus();
const page = pages[document.body.dataset.page];
if (page) page();

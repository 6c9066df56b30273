// Building DOM without innerHTML: every text from the API is set as text.

/** h('a', {href: '#/x', onclick: f}, 'text', child, [children]) */
export function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) {
            continue;
        }
        if (k.startsWith('on') && typeof v === 'function') {
            el.addEventListener(k.slice(2), v);
        } else if (k === 'class') {
            el.className = v;
        } else if (k === 'dataset') {
            Object.assign(el.dataset, v);
        } else if (v === true) {
            el.setAttribute(k, '');
        } else {
            el.setAttribute(k, String(v));
        }
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === undefined || c === null || c === false) {
            continue;
        }
        if (Array.isArray(c)) {
            append(el, c);
        } else if (c instanceof Node) {
            el.appendChild(c);
        } else {
            el.appendChild(document.createTextNode(String(c)));
        }
    }
}

/** A table: headers and rows of cells (text or nodes); an empty text when no rows. */
export function table(headers, rows, empty = 'None.', caption = null) {
    if (!rows.length) {
        return h('p', {class: 'muted'}, empty);
    }
    return h('div', {class: 'scroll'}, h('table', {},
        caption ? h('caption', {class: 'sr-only'}, caption) : null,
        h('thead', {}, h('tr', {}, headers.map((x) => h('th', {scope: 'col'}, x)))),
        h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))));
}

/** Pipeline time (ms) as "2026-12-06 06:20:00Z". */
export function when(ms) {
    if (ms == null || Number.isNaN(ms)) {
        return '';
    }
    return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** Announces a short message to screen readers and shows it for a while. */
export function toast(text) {
    const t = document.getElementById('toast');
    t.textContent = text;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.textContent = ''; }, 5000);
}

// The console's only way out: the AWS IoT REST API of ddlocald (the same
// operations the AWS CLI uses) and ddlocal's own /ddlocal/v1/ endpoints, on
// the origin that served the page.

/** An error answer of the API: status, AWS error type and message. */
export class ApiError extends Error {
    constructor(status, type, message) {
        super(message || `HTTP ${status}`);
        this.status = status;
        this.type = type;
    }
}

/** Calls @p method @p path with query parameters and a JSON body; returns the JSON answer. */
export async function api(method, path, {query, body} = {}) {
    let url = path;
    if (query) {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries(query)) {
            if (v !== undefined && v !== null && v !== '') {
                q.set(k, String(v));
            }
        }
        const text = q.toString();
        if (text) {
            url += '?' + text;
        }
    }
    const init = {method, headers: {}};
    if (body !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    const resp = await fetch(url, init);
    const text = await resp.text();
    let json = null;
    try {
        json = text ? JSON.parse(text) : {};
    } catch (e) {
        json = {message: text};
    }
    if (!resp.ok) {
        throw new ApiError(resp.status, resp.headers.get('x-amzn-ErrorType') || '',
            (json && json.message) || text);
    }
    return json;
}

/** Every page of a list operation (nextToken), up to @p max items of @p key, from @p query.nextToken on. */
export async function listAll(path, key, query = {}, max = 1000) {
    const items = [];
    // A query's nextToken is where to start (the rest of a list whose first page is shown).
    let token = query.nextToken;
    do {
        const page = await api('GET', path, {query: {...query, maxResults: 250, nextToken: token}});
        items.push(...(page[key] || []));
        token = page.nextToken;
    } while (token && items.length < max);
    return items;
}

/** One page of a list operation: {items, nextToken}. */
export async function listPage(path, key, query = {}, maxResults = 250, nextToken = undefined) {
    const page = await api('GET', path, {query: {...query, maxResults, nextToken}});
    return {items: page[key] || [], nextToken: page.nextToken || null};
}

const enc = encodeURIComponent;
export const paths = {
    profile: (n) => `/security-profiles/${enc(n)}`,
    profileTargets: (n) => `/security-profiles/${enc(n)}/targets`,
    thing: (n) => `/things/${enc(n)}`,
    thingGroups: (n) => `/things/${enc(n)}/thing-groups`,
    thingPrincipals: (n) => `/things/${enc(n)}/principals`,
    verification: (id) => `/violations/verification-state/${enc(id)}`,
    task: (id) => `/detect/mitigationactions/tasks/${enc(id)}`,
};

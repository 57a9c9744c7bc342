// Unit tests of the Web SDK without a browser: sdk/web/afftok.js (and its
// minified copy, when given) runs in a node vm against a fake window with a
// cookie jar, localStorage, a controllable clock and an Image whose requests
// succeed or fail on demand. Prints PASS:/FAIL: lines; run by 90-sdk.sh.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

let failed = 0;
function eq(what, want, got) {
	const w = JSON.stringify(want), g = JSON.stringify(got);
	if (w === g) console.log(`PASS: sdk unit: ${what}`);
	else {
		console.log(`FAIL: sdk unit: ${what} (expected ${w}, got ${g})`);
		failed++;
	}
}

// One page load: a fresh window over the given persistent browser state.
function page(src, state, url, attrs) {
	const u = new URL(url);
	const timers = [];
	const win = {
		location: { search: u.search, protocol: u.protocol, host: u.host },
		navigator: { onLine: state.online !== false },
		localStorage: {
			getItem: (k) => (k in state.storage ? state.storage[k] : null),
			setItem: (k, v) => { state.storage[k] = String(v); },
		},
		setTimeout: (fn, ms) => { timers.push({ fn, at: state.now + ms }); return timers.length; },
		clearTimeout: (id) => { if (timers[id - 1]) timers[id - 1].fn = null; },
		addEventListener: () => {},
		Math, JSON, Promise, String, Number, Array, Object, RegExp, encodeURIComponent,
		decodeURIComponent, isFinite,
		Image: function () {
			const img = this;
			Object.defineProperty(img, 'src', {
				set(v) {
					state.requests.push(v);
					const ok = state.respond(v);
					Promise.resolve().then(() => (ok ? img.onload && img.onload() : img.onerror && img.onerror()));
				},
			});
		},
	};
	const doc = {
		get cookie() {
			return Object.entries(state.cookies).map(([k, v]) => `${k}=${v}`).join('; ');
		},
		set cookie(c) {
			const [kv] = c.split(';');
			const eqi = kv.indexOf('=');
			state.cookies[kv.slice(0, eqi)] = kv.slice(eqi + 1);
			state.cookieLines.push(c);
		},
		currentScript: { getAttribute: (n) => (n === 'src' ? 'https://track.example/sdk/afftok.js' : (attrs || {})[n] || null) },
	};
	win.window = win;
	// The SDK reads the time with new Date() of its global scope.
	const FakeDate = function () { return { getTime: () => state.now }; };
	vm.runInNewContext(src, { window: win, document: doc, Date: FakeDate });
	// Runs the timers that are due by `until` (the clock moves to each).
	win.advance = async (until) => {
		for (;;) {
			await new Promise((r) => setImmediate(r));
			const due = timers.filter((t) => t.fn && t.at <= until).sort((a, b) => a.at - b.at)[0];
			if (!due) break;
			state.now = Math.max(state.now, due.at);
			const fn = due.fn;
			due.fn = null;
			fn();
		}
		state.now = until;
		await new Promise((r) => setImmediate(r));
	};
	return win;
}

function browser() {
	return { storage: {}, cookies: {}, cookieLines: [], requests: [], now: 1.7e12, respond: () => true };
}

async function suite(name, src) {
	const T = (s) => `${name}: ${s}`;
	let b = browser();
	let w = page(src, b, 'https://shop.example/lp?click_id=0AbCdEfGhIjKlMnOpQrStUvWxYz1&sub1=x');
	eq(T('click id from the landing URL'), '0AbCdEfGhIjKlMnOpQrStUvWxYz1', w.AffTok.clickId());
	eq(T('cookie line'), 'afftok_cid=0AbCdEfGhIjKlMnOpQrStUvWxYz1; Max-Age=2592000; Path=/; SameSite=Lax; Secure', b.cookieLines[0]);
	eq(T('endpoint is where the SDK came from'), true, (await w.AffTok.conversion({ transaction_id: 'T1', amount: 12.5 })) === 'sent' &&
		b.requests[0] === 'https://track.example/pixel?click_id=0AbCdEfGhIjKlMnOpQrStUvWxYz1&transaction_id=T1&amount=12.5');
	eq(T('same transaction again: duplicate, no request'), ['duplicate', 1], [await w.AffTok.conversion({ transaction_id: 'T1' }), b.requests.length]);

	// A later page, cookie gone (browsers cap script cookies): localStorage still has it.
	b.cookies = {};
	w = page(src, b, 'https://shop.example/thanks');
	eq(T('click id from localStorage without the cookie'), '0AbCdEfGhIjKlMnOpQrStUvWxYz1', w.AffTok.clickId());
	b.now += 31 * 86400000;
	eq(T('after the attribution window: no click'), [null, 'no_click'], [w.AffTok.clickId(), await w.AffTok.conversion({ transaction_id: 'T9' })]);

	// Field checks: nothing malformed is sent.
	b = browser();
	w = page(src, b, 'https://shop.example/?click_id=abc_DEF-123');
	const bad = [{ amount: -1 }, { amount: 1e21 }, { amount: '1,5' }, { amount: '1.1234567' }, { currency: 'EURO' },
		{ transaction_id: 'x'.repeat(129) }, { event: 'e'.repeat(65) }, { amount: NaN }];
	for (const o of bad) eq(T(`invalid ${JSON.stringify(o).slice(0, 40)}`), 'invalid', await w.AffTok.conversion(o));
	eq(T('nothing sent for invalid input'), 0, b.requests.length);
	await w.AffTok.conversion({ transaction_id: 'a b&c', amount: 0.1 + 0.2, currency: 'eur', event: 'sale' });
	eq(T('amount as exact text, currency upper case, values encoded'),
		'https://track.example/pixel?click_id=abc_DEF-123&transaction_id=a%20b%26c&amount=0.3&currency=EUR&event=sale', b.requests[0]);
	await w.AffTok.conversion({ event: 'lead' });
	eq(T('without transaction id: de-duplicated by event'), 'duplicate', await w.AffTok.conversion({ event: 'lead' }));
	eq(T('bad click ids in the URL are ignored'), 'abc_DEF-123',
		page(src, b, 'https://shop.example/?click_id=%3Cscript%3E').AffTok.clickId());

	// Failures: queued, retried with growing delays, bounded, flushed on the next page.
	b = browser();
	b.respond = () => false;
	w = page(src, b, 'https://shop.example/?click_id=qqq');
	eq(T('failed report: queued'), 'queued', await w.AffTok.conversion({ transaction_id: 'Q1' }));
	const t0 = b.now;
	await w.advance(t0 + 600);
	eq(T('no retry before the backoff'), 1, b.requests.length);
	await w.advance(t0 + 1300);
	eq(T('first retry within 0.75-1.25 s'), 2, b.requests.length);
	await w.advance(t0 + 3800);
	eq(T('second retry within 1.5-2.5 s more'), 3, b.requests.length);
	for (let i = 0; i < 25; i++) await w.AffTok.conversion({ transaction_id: `B${i}` });
	eq(T('queue bounded at 20'), 20, w.AffTok.pending());
	b.respond = () => true;
	w = page(src, b, 'https://shop.example/other');
	await w.advance(b.now + 10);
	eq(T('next page load flushes the queue'), 0, w.AffTok.pending());
	eq(T('a flushed report is not sent again'), 'duplicate', await w.AffTok.conversion({ transaction_id: 'B24' }));

	// Offline: nothing is tried until the browser is back online.
	b = browser();
	b.online = false;
	w = page(src, b, 'https://shop.example/?click_id=off');
	eq(T('offline: queued without a request'), ['queued', 0], [await w.AffTok.conversion({ transaction_id: 'O1' }), b.requests.length]);

	// Gives up after 12 tries.
	b = browser();
	b.respond = () => false;
	w = page(src, b, 'https://shop.example/?click_id=giveup');
	await w.AffTok.conversion({ transaction_id: 'G1' });
	await w.advance(b.now + 3 * 3600000);
	eq(T('gives up after 12 tries'), [12, 0], [b.requests.length, w.AffTok.pending()]);

	// The declarative tag and options from attributes.
	b = browser();
	w = page(src, b, 'https://shop.example/?cid=tag1', { 'data-param': 'cid', 'data-days': '7', 'data-transaction-id': 'TAG', 'data-amount': '9.99' });
	await w.advance(b.now + 10);
	eq(T('data-param and data-days'), ['tag1', 'afftok_cid=tag1; Max-Age=604800; Path=/; SameSite=Lax; Secure'], [w.AffTok.clickId(), b.cookieLines[0]]);
	eq(T('declarative conversion'), 'https://track.example/pixel?click_id=tag1&transaction_id=TAG&amount=9.99', b.requests[0]);
	eq(T('no API key anywhere in the SDK'), false, /aft_[a-z]_|api_key|X-API-Key/i.test(src));
}

(async () => {
	for (const f of process.argv.slice(2)) await suite(path.basename(f), fs.readFileSync(f, 'utf8'));
	process.exit(failed ? 1 : 0);
})().catch((e) => {
	console.log(`FAIL: sdk unit: exception ${e.stack}`);
	process.exit(1);
});

// The Web SDK end to end in headless Chromium (Debian's package, driven by
// playwright-core): a click on the demo tracking link, the landing page that
// keeps the click id, a thank-you page that reports the sale through /pixel,
// and the conversion counted in PostgreSQL. Run by 90-sdk.sh, which passes
// the stack in the environment; prints PASS:/FAIL: lines like lib.sh.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');

const top = path.resolve(__dirname, '../..');
const { chromium } = require(path.join(top, 'node_modules/playwright-core'));

const URL = process.env.AFFTOK_URL;
const LINK = process.env.AFFTOK_DEMO_LINK;
const PGURI = process.env.PGURI;
const CTL = process.env.AFFTOK_CTL.split(' ');
let failed = 0;

function pass(what) {
	console.log('PASS: sdk: ' + what);
}
function fail(what) {
	console.log('FAIL: sdk: ' + what);
	failed++;
}
function eq(what, want, got) {
	if (String(want) === String(got)) pass(what);
	else fail(`${what} (expected '${want}', got '${got}')`);
}
function sql(q) {
	return execFileSync('psql', ['-X', '-q', '-tA', PGURI, '-c', q], { encoding: 'utf8' }).trim();
}
function ctl(...args) {
	execFileSync(CTL[0], [...CTL.slice(1), ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}
// Conversions of a click (the clicks of each scenario are its own).
function conversions(clickId) {
	ctl('match', '--once');
	return sql(`SELECT count(*) FROM conversions WHERE click_id = '${clickId}'`);
}

// A fresh browser context (cookies, storage) per visitor; every /pixel
// answer is recorded with its X-AffTok-Status.
// Headless Chromium's own user agent says HeadlessChrome, which the bot
// filter rightly refuses: the visitor presents the desktop Chrome of the
// other tests (lib.sh BROWSER_UA) so that its clicks are billable.
// Each visitor has an address of its own (nginx trusts X-Forwarded-For from
// loopback), so its click is not a duplicate of the previous visitor's, nor
// of a visitor of a run a minute ago on the same stack.
let visitors = 0;
const net = 1 + Math.floor(Math.random() * 250);
async function visitor(browser) {
	const context = await browser.newContext({
		userAgent: process.env.BROWSER_UA,
		locale: 'en-US',
		extraHTTPHeaders: { 'X-Forwarded-For': `198.19.${net}.${10 + visitors++}` },
	});
	const page = await context.newPage();
	const pixels = [];
	page.on('response', (r) => {
		if (r.url().includes('/pixel')) pixels.push(r.headers()['x-afftok-status'] || '?');
	});
	page.on('pageerror', (e) => fail(`page error: ${e.message}`));
	return { context, page, pixels };
}

// Clicks the tracking link; returns the click id the landing page got.
async function click(v, sub) {
	await v.page.goto(`${LINK}?sub1=${sub}`);
	const landed = new globalThis.URL(v.page.url());
	const id = landed.searchParams.get('click_id') || '';
	eq(`${sub}: the link lands on the landing page`, '/www/landing.html', landed.pathname);
	eq(`${sub}: the SDK keeps the click id`, id, await v.page.evaluate(() => AffTok.clickId()));
	// The journal to PostgreSQL now, so the pixel finds its click.
	ctl('ingest', '--once');
	return id;
}

async function thankyou(v, tx) {
	await v.page.goto(`${URL}/www/thankyou.html?tx=${tx}&amount=12.50&currency=EUR&event=sale`);
	await v.page.waitForSelector('#status[data-status]', { timeout: 15000 });
	return v.page.getAttribute('#status', 'data-status');
}

// Waits until the page's queue is empty (a retry went out and succeeded).
async function drained(page, ms) {
	try {
		await page.waitForFunction(() => AffTok.pending() === 0, null, { timeout: ms, polling: 200 });
		return true;
	} catch (e) {
		return false;
	}
}

async function main() {
	const browser = await chromium.launch({
		executablePath: '/usr/bin/chromium',
		headless: true,
		// launch() gives every run a fresh temporary --user-data-dir.
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const run = Date.now().toString(36);
	try {
		// 1. Click, land, thank-you page: one conversion; a reload sends nothing.
		let v = await visitor(browser);
		const a = await click(v, 'sdk-a');
		const cookies = await v.context.cookies();
		eq('first-party cookie holds the click id', a, (cookies.find((c) => c.name === 'afftok_cid') || {}).value);
		const stored = await v.page.evaluate(() => JSON.parse(localStorage.getItem('afftok') || '{}'));
		eq('localStorage holds the click id', a, stored.cid);
		check('attribution window is 30 days', Math.abs(stored.exp - stored.at - 30 * 86400000) < 1000);
		eq('thank-you page: conversion sent', 'sent', await thankyou(v, `A-${run}`));
		eq('the pixel recorded it', 'recorded', v.pixels.join(','));
		eq('exactly one conversion for the click', 1, conversions(a));
		// Pending: the demo offer does not trust pixels (SPEC section 3).
		eq('it is the pixel conversion of the order', `A-${run}|12.500000|EUR|sale|pixel|pending`,
			sql(`SELECT transaction_id, amount, currency, event, source, status FROM conversions WHERE click_id = '${a}'`));
		eq('reload of the thank-you page: duplicate', 'duplicate', await (async () => {
			await v.page.reload();
			await v.page.waitForSelector('#status[data-status]');
			return v.page.getAttribute('#status', 'data-status');
		})());
		eq('reload: no second pixel request', 1, v.pixels.length);
		eq('after the reload: still exactly one conversion', 1, conversions(a));
		// The browser forgot what it sent (storage cleared): the server de-duplicates.
		await v.page.evaluate(() => localStorage.removeItem('afftok_sent'));
		eq('storage cleared, reported again: sent', 'sent', await thankyou(v, `A-${run}`));
		eq('the server answered duplicate', 'recorded,duplicate', v.pixels.join(','));
		eq('still exactly one conversion', 1, conversions(a));
		await v.context.close();

		// 2. The first report fails (network error): retried from the queue with backoff.
		v = await visitor(browser);
		const b = await click(v, 'sdk-b');
		let tries = 0;
		await v.page.route((u) => u.pathname === '/pixel', (route) => (++tries === 1 ? route.abort('failed') : route.continue()));
		eq('first report failed: queued', 'queued', await thankyou(v, `B-${run}`));
		eq('one report waits in the queue', '1', await v.page.textContent('#pending'));
		check('the retry went out and the queue is empty', await drained(v.page, 15000));
		eq('two attempts, the second recorded', '2 recorded', `${tries} ${v.pixels.join(',')}`);
		eq('exactly one conversion for the retried click', 1, conversions(b));
		await v.context.close();

		// 3. Offline on the thank-you page: the queue goes out on the next page load.
		v = await visitor(browser);
		const c = await click(v, 'sdk-c');
		await v.page.route((u) => u.pathname === '/pixel', (route) =>
			(route.request().frame().url().includes('thankyou') ? route.abort('internetdisconnected') : route.continue()));
		eq('offline: queued', 'queued', await thankyou(v, `C-${run}`));
		eq('offline: nothing recorded yet', 0, conversions(c));
		await v.page.goto(`${URL}/www/landing.html`);
		check('next page load flushed the queue', await drained(v.page, 15000));
		eq('the queued report was recorded', 'recorded', v.pixels.filter((s) => s !== '?').join(','));
		eq('exactly one conversion for the queued click', 1, conversions(c));
		await v.context.close();

		// 4. The declarative tag (no inline script) with sendBeacon: POST /pixel.
		v = await visitor(browser);
		const d = await click(v, 'sdk-d');
		const beacons = [];
		v.page.on('request', (r) => {
			if (r.url().includes('/pixel')) beacons.push(r.method());
		});
		await v.page.goto(`${URL}/www/thankyou-tag.html?tx=D-${run}&amount=5&currency=USD&event=sale&transport=beacon`);
		let n = '0';
		for (let i = 0; i < 50 && n === '0'; i++) {
			await v.page.waitForTimeout(100);
			n = sql(`SELECT count(*) FROM conversions WHERE click_id = '${d}'`);
		}
		eq('declarative tag: one conversion', 1, n);
		eq('declarative tag: sent as a beacon (POST /pixel)', 'POST', beacons.join(' '));
		eq('declarative tag: the order as declared', `D-${run}|5.000000|USD|sale|pixel`,
			sql(`SELECT transaction_id, amount, currency, event, source FROM conversions WHERE click_id = '${d}'`));
		eq('declarative tag: nothing left in the queue', 0, await v.page.evaluate(() => AffTok.pending()));
		await v.page.reload();
		await v.page.waitForTimeout(500);
		eq('declarative tag: reload sends nothing', 1, beacons.length);
		eq('declarative tag: still one conversion', 1, conversions(d));
		await v.context.close();

		// 5. No click in the attribution window: nothing is sent.
		v = await visitor(browser);
		await v.page.goto(`${URL}/www/landing.html`);
		eq('without a click: no_click', 'no_click', await thankyou(v, `D-${run}`));
		eq('without a click: no pixel request', 0, v.pixels.length);
		await v.context.close();
	} finally {
		await browser.close();
	}
}

function check(what, ok) {
	if (ok) pass(what);
	else fail(what);
}

main().then(
	() => process.exit(failed ? 1 : 0),
	(e) => {
		fail(`exception: ${e.stack || e}`);
		process.exit(1);
	},
);
